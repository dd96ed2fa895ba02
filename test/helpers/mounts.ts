// Small file systems for disk-fault tests (the tests run as root): a loop-mounted ext4 image that can be
// filled and turned read-only (`remount,abort`), and a size-limited tmpfs. Every mount is undone by
// `unmount()`, which the tests call in afterAll whatever happened.

import { execFileSync } from "node:child_process";
import { closeSync, mkdirSync, openSync, rmSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./temp.js";

export interface SmallDisk {
  /** Where the file system is mounted. */
  readonly dir: string;
  /** Writes a filler file until the disk is full (ENOSPC). */
  fill(): void;
  /** Removes the filler: space returns. */
  free(): void;
  /** ext4 only: the file system turns read-only at once (as after a disk error), open files too. */
  abort(): void;
  /** ext4 only, after abort(): unmount, fsck, mount read-write again. */
  repair(): void;
  unmount(): void;
}

function run(command: string, args: readonly string[]): void {
  execFileSync(command, args, { stdio: "pipe" });
}

function disk(kind: "ext4" | "tmpfs", sizeMb: number): SmallDisk {
  const root = tempDir(`custos-${kind}-`);
  const dir = join(root.dir, "mnt");
  const image = join(root.dir, "disk.img");
  mkdirSync(dir);
  const mount = () => {
    if (kind === "ext4") run("mount", ["-o", "loop,errors=remount-ro", image, dir]);
    else run("mount", ["-t", "tmpfs", "-o", `size=${sizeMb}m,mode=0700`, "tmpfs", dir]);
  };
  if (kind === "ext4") {
    run("truncate", ["-s", `${sizeMb}M`, image]);
    run("mkfs.ext4", ["-q", "-F", "-m", "0", image]);
  }
  mount();
  let mounted = true;
  const filler = join(dir, "filler");
  return {
    dir,
    fill() {
      const fd = openSync(filler, "a");
      const chunk = Buffer.alloc(64 * 1024, 1);
      try {
        for (;;) writeSync(fd, chunk);
      } catch (error) {
        if ((error as { code?: string }).code !== "ENOSPC") throw error;
        // The last blocks: smaller writes until nothing fits.
        for (const size of [4096, 512, 1]) {
          try {
            for (;;) writeSync(fd, chunk.subarray(0, size));
          } catch {}
        }
      } finally {
        closeSync(fd);
      }
    },
    free() {
      unlinkSync(filler);
    },
    abort() {
      run("mount", ["-o", "remount,abort", dir]);
    },
    repair() {
      run("umount", [dir]);
      mounted = false;
      try {
        run("e2fsck", ["-fy", image]);
      } catch {
        // e2fsck exits 1 when it fixed something: expected after an abort.
      }
      mount();
      mounted = true;
    },
    unmount() {
      if (mounted) {
        try {
          run("umount", [dir]);
        } catch {
          run("umount", ["-l", dir]);
        }
        mounted = false;
      }
      rmSync(root.dir, { recursive: true, force: true });
    },
  };
}

export const loopExt4 = (sizeMb: number) => disk("ext4", sizeMb);
export const smallTmpfs = (sizeMb: number) => disk("tmpfs", sizeMb);
