/**
 * Images are published once, read-only (0444, root-owned when root), under a new name, and
 * never modified: a UML COW header pins the backing file's absolute path and mtime.
 */
import { constants } from "node:fs";
import { chmod, lstat, mkdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ImageInfo } from "../../protocol/agent";
import { isSlug } from "../../protocol/names";

export function imagePath(imagesDir: string, name: string): string {
  if (!isSlug(name)) throw new Error(`bad image name ${JSON.stringify(name)}`);
  return join(imagesDir, `${name}.ext4`);
}

export async function assertImageNameFree(imagesDir: string, name: string): Promise<void> {
  for (const file of [imagePath(imagesDir, name), join(imagesDir, `${name}.json`)]) {
    const exists = await lstat(file).then(
      () => true,
      () => false,
    );
    if (exists) throw new Error(`image ${name} already exists; images are never replaced, pick a new name`);
  }
}

/** Moves a finished ext4 file into place as `<name>.ext4` (0444) with its `<name>.json` manifest. */
export async function publishImage(
  imagesDir: string,
  name: string,
  builtFile: string,
  kind: ImageInfo["kind"],
): Promise<string> {
  await mkdir(imagesDir, { recursive: true, mode: 0o755 });
  await assertImageNameFree(imagesDir, name);
  const target = imagePath(imagesDir, name);
  await chmod(builtFile, 0o444);
  await rename(builtFile, target);
  const manifest = join(imagesDir, `${name}.json`);
  try {
    await writeFile(manifest, `${JSON.stringify({ name, kind, createdAt: new Date().toISOString() })}\n`, {
      mode: 0o444,
      flag: constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY,
    });
  } catch (error) {
    await rm(target, { force: true });
    throw error;
  }
  return target;
}
