// Node's side of the PyTorch readers: a SyncByteSource over a file on disk (positioned `readSync`
// calls, no size limit, never a whole-file buffer: `fs.readFile` refuses files over 2 GiB and
// decoder.pt is 2.49 GB), and openTorchFile, which parses a torch file through it.

import * as fs from 'node:fs';
import { CheckpointFormatError, checkReadRange } from './byte_reader.js';
import type { SyncByteSource } from './byte_source.js';
import { readTorchFile, type TorchFile, type TorchOpenOptions } from './torch_file.js';

export function openFileReader(path: string): SyncByteSource {
  const fd = fs.openSync(path, 'r');
  const size = fs.fstatSync(fd).size;
  let open = true;
  const source: SyncByteSource = {
    name: path,
    size,
    read(position, length) {
      if (!open) throw new CheckpointFormatError(path, 'file is closed');
      checkReadRange(source, position, length);
      const out = new Uint8Array(length);
      let done = 0;
      // readSync may return fewer bytes than asked (large reads are capped per call).
      while (done < length) {
        const n = fs.readSync(fd, out, done, length - done, position + done);
        if (n === 0) throw new CheckpointFormatError(path, `unexpected end of file at byte ${position + done} (file changed while open?)`);
        done += n;
      }
      return out;
    },
    close() {
      if (open) fs.closeSync(fd);
      open = false;
    },
  };
  return source;
}

/** A torch.save / torch.jit.save file on disk, read as data (see torch_file.ts). */
export function openTorchFile(path: string, opts: TorchOpenOptions = {}): TorchFile {
  const reader = openFileReader(path);
  try {
    return readTorchFile(reader, opts);
  } catch (e) {
    reader.close();
    throw e;
  }
}
