// Node: a file as a ByteSource (positioned reads through fs/promises), so the asynchronous
// safetensors reader (safetensors_source.ts) and the browser share one code path with Node.

import { open } from 'node:fs/promises';
import { checkRange, type ByteSource } from './byte_source.js';

export async function fileSource(path: string): Promise<ByteSource> {
  const handle = await open(path, 'r').catch((e: Error) => {
    throw new Error(`${path}: cannot open: ${e.message}`);
  });
  const size = (await handle.stat()).size;
  let closed = false;
  return {
    name: path,
    size,
    async read(offset, length) {
      if (closed) throw new Error(`${path}: file is closed`);
      checkRange({ name: path, size }, offset, length);
      const out = new Uint8Array(length);
      let done = 0;
      // read() may return fewer bytes than asked (large reads are capped per call).
      while (done < length) {
        const { bytesRead } = await handle.read(out, done, length - done, offset + done);
        if (bytesRead === 0) throw new Error(`${path}: unexpected end of file at byte ${offset + done} (file changed while open?)`);
        done += bytesRead;
      }
      return out;
    },
    async close() {
      if (closed) return;
      closed = true;
      await handle.close();
    },
  };
}
