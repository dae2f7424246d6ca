/**
 * The cloud-init Debian image for tests, built once per version of its build script: the image is
 * kept in /var/tmp/zaphod-image-cache (outside the clone, so a clean clone's second run is quick)
 * under a name holding the hash of build-debian.ts; an older build is removed when a new one is
 * made. A test links it into its own agent's images directory.
 */
import { createHash } from "node:crypto";
import { copyFile, link, mkdir, readdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { buildDebianImage } from "../images/build-debian";
import { imagePath } from "../images/publish-image";

export const IMAGE_CACHE_DIR = "/var/tmp/zaphod-image-cache";

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

/** Builds the image when the cache has none for this build script; returns its name and how long the build took. */
export async function cachedDebianImage(
  log: (line: string) => void = () => undefined,
): Promise<{ name: string; builtSeconds: number | null }> {
  const script = await readFile(new URL("../images/build-debian.ts", import.meta.url), "utf8");
  const name = `debian-cloud-${createHash("sha256").update(script).digest("hex").slice(0, 12)}`;
  const file = imagePath(IMAGE_CACHE_DIR, name);
  if ((await exists(file)) && (await exists(join(IMAGE_CACHE_DIR, `${name}.json`))))
    return { name, builtSeconds: null };
  await mkdir(IMAGE_CACHE_DIR, { recursive: true, mode: 0o755 });
  for (const old of await readdir(IMAGE_CACHE_DIR))
    if (old.startsWith("debian-cloud-")) await rm(join(IMAGE_CACHE_DIR, old), { force: true });
  const started = Date.now();
  await buildDebianImage({ imagesDir: IMAGE_CACHE_DIR, name, log });
  return { name, builtSeconds: Math.round((Date.now() - started) / 1000) };
}

/** Puts the cached image into an agent's images directory (a hard link, a copy across file systems). */
export async function installCachedImage(name: string, imagesDir: string): Promise<void> {
  await mkdir(imagesDir, { recursive: true, mode: 0o755 });
  for (const file of [`${name}.ext4`, `${name}.json`]) {
    const from = join(IMAGE_CACHE_DIR, file);
    const to = join(imagesDir, file);
    await link(from, to).catch(async (error: NodeJS.ErrnoException) => {
      if (error.code !== "EXDEV") throw error;
      await copyFile(from, to);
    });
  }
}
