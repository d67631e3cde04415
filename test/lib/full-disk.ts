// A nearly full disk, injected into a CLI subprocess: `node --import <this file's URL> bin/deepmask.js ...`
// with FULL_DISK_PATTERN (a regular expression on the path) and FULL_DISK_BYTES. Once that many bytes
// have gone to files whose path matches, a write is cut short (as the kernel writes short when the
// disk fills) and every later one to such a file fails with ENOSPC. Only fs.writeSync is patched
// (syncBuiltinESMExports makes `import { writeSync } from 'node:fs'` see it); fs.openSync is wrapped
// to know which path a descriptor writes.
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

const pattern = new RegExp(process.env.FULL_DISK_PATTERN ?? '(?!)');
let left = Number(process.env.FULL_DISK_BYTES ?? 0);
const paths = new Map<number, string>();
const { openSync, closeSync, writeSync } = fs;

type Any = (...args: any[]) => any;
const patched = fs as unknown as Record<'openSync' | 'closeSync' | 'writeSync', Any>;

patched.openSync = (path: fs.PathLike, ...rest: unknown[]) => {
  const fd = (openSync as Any)(path, ...rest) as number;
  paths.set(fd, String(path));
  return fd;
};
patched.closeSync = (fd: number) => {
  paths.delete(fd);
  return closeSync(fd);
};
patched.writeSync = (fd: number, data: string | NodeJS.ArrayBufferView, ...rest: unknown[]) => {
  const path = paths.get(fd);
  if (path === undefined || !pattern.test(path)) return (writeSync as Any)(fd, data, ...rest);
  // The bytes asked for, in each of writeSync's forms: (string, position?, encoding?),
  // (buffer, offset?, length?, position?) and (buffer, { offset, length, position }).
  let bytes: Uint8Array, position: number | null;
  if (typeof data === 'string') {
    bytes = Buffer.from(data, (rest[1] as BufferEncoding | undefined) ?? 'utf8');
    position = (rest[0] as number | null | undefined) ?? null;
  } else {
    const o =
      typeof rest[0] === 'object' && rest[0] !== null
        ? (rest[0] as { offset?: number; length?: number; position?: number | null })
        : { offset: rest[0] as number | undefined, length: rest[1] as number | undefined, position: rest[2] as number | null | undefined };
    const offset = o.offset ?? 0;
    bytes = new Uint8Array(data.buffer, data.byteOffset + offset, o.length ?? data.byteLength - offset);
    position = o.position ?? null;
  }
  if (left <= 0 && bytes.length) throw Object.assign(new Error(`ENOSPC: no space left on device, write`), { code: 'ENOSPC', errno: -28, syscall: 'write' });
  const n = Math.min(left, bytes.length);
  left -= n;
  return writeSync(fd, bytes, 0, n, position);
};
syncBuiltinESMExports();
