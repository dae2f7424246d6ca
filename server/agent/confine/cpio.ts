/**
 * A minimal writer for the cpio "newc" format the kernel unpacks as an initramfs
 * (Documentation/driver-api/early-userspace/buffer-format.rst). Written here rather than with
 * cpio(1), which Debian does not install by default, so every entry is root-owned with the mode we
 * say, whoever builds it, and device nodes need no mknod.
 */

export type CpioEntry =
  | { type: "dir"; path: string; mode: number }
  | { type: "file"; path: string; mode: number; data: Uint8Array }
  | { type: "symlink"; path: string; target: string }
  | { type: "char"; path: string; mode: number; major: number; minor: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

function hex8(n: number): string {
  return n.toString(16).padStart(8, "0");
}

function pad4(length: number): number {
  return (4 - (length % 4)) % 4;
}

function header(fields: {
  ino: number;
  mode: number;
  nlink: number;
  fileSize: number;
  rdevMajor: number;
  rdevMinor: number;
  nameSize: number;
}): string {
  return [
    "070701",
    hex8(fields.ino),
    hex8(fields.mode),
    hex8(0), // uid: root
    hex8(0), // gid: root
    hex8(fields.nlink),
    hex8(0), // mtime: fixed, so the same inputs give the same bytes
    hex8(fields.fileSize),
    hex8(0),
    hex8(0),
    hex8(fields.rdevMajor),
    hex8(fields.rdevMinor),
    hex8(fields.nameSize),
    hex8(0), // check
  ].join("");
}

function relativePath(path: string): string {
  const rel = path.replace(/^\/+/, "");
  if (!rel || rel.split("/").some((part) => part === "" || part === "." || part === ".."))
    throw new Error(`bad cpio path ${JSON.stringify(path)}`);
  return rel;
}

/** The archive's bytes: the entries in order, then the trailer. */
export function writeNewc(entries: CpioEntry[]): Buffer {
  const chunks: Buffer[] = [];
  let ino = 1;
  const push = (
    name: string,
    mode: number,
    data: Uint8Array,
    nlink: number,
    rdev: [number, number] = [0, 0],
  ) => {
    const nameBytes = Buffer.from(`${name}\0`, "utf8");
    const head = Buffer.from(
      header({
        ino: ino++,
        mode,
        nlink,
        fileSize: data.length,
        rdevMajor: rdev[0],
        rdevMinor: rdev[1],
        nameSize: nameBytes.length,
      }),
      "ascii",
    );
    chunks.push(head, nameBytes, Buffer.alloc(pad4(head.length + nameBytes.length)));
    chunks.push(Buffer.from(data), Buffer.alloc(pad4(data.length)));
  };
  for (const entry of entries) {
    const name = relativePath(entry.path);
    switch (entry.type) {
      case "dir":
        push(name, S_IFDIR | (entry.mode & 0o7777), new Uint8Array(), 2);
        break;
      case "file":
        push(name, S_IFREG | (entry.mode & 0o7777), entry.data, 1);
        break;
      case "symlink":
        push(name, S_IFLNK | 0o777, Buffer.from(entry.target, "utf8"), 1);
        break;
      case "char":
        push(name, S_IFCHR | (entry.mode & 0o7777), new Uint8Array(), 1, [entry.major, entry.minor]);
        break;
    }
  }
  push("TRAILER!!!", 0, new Uint8Array(), 1);
  return Buffer.concat(chunks);
}

export interface CpioMember {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  data: Buffer;
  rdev: [number, number];
}

/** Reads a newc archive back (for tests and for checking a built initramfs). */
export function readNewc(archive: Buffer): CpioMember[] {
  const out: CpioMember[] = [];
  let offset = 0;
  while (offset + 110 <= archive.length) {
    const head = archive.subarray(offset, offset + 110).toString("ascii");
    if (!head.startsWith("070701")) throw new Error(`bad cpio magic at ${offset}`);
    const field = (i: number) => Number.parseInt(head.slice(6 + i * 8, 14 + i * 8), 16);
    const nameSize = field(11);
    const fileSize = field(6);
    const nameStart = offset + 110;
    const name = archive.subarray(nameStart, nameStart + nameSize - 1).toString("utf8");
    const dataStart = nameStart + nameSize + pad4(110 + nameSize);
    const data = archive.subarray(dataStart, dataStart + fileSize);
    offset = dataStart + fileSize + pad4(fileSize);
    if (name === "TRAILER!!!") return out;
    out.push({ name, mode: field(1), uid: field(2), gid: field(3), data, rdev: [field(9), field(10)] });
  }
  throw new Error("cpio archive has no trailer");
}
