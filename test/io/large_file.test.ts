// A torch.save archive larger than 4 GiB (sparse: the 4.5 GiB record is a hole, so it costs no disk),
// with the tensors' storages after it: ZIP64 offsets and positioned reads past 2 GiB, where
// fs.readFile would refuse the file and 32-bit offsets would wrap.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bytesReader } from '../../src/io/byte_reader.js';
import { TorchTensor } from '../../src/io/torch_file.js';
import { openTorchFile } from '../../src/io/file_reader.js';
import { toF32 } from '../../src/io/torch_tensor.js';
import { ZipArchive } from '../../src/io/zip.js';
import { writeZipFile } from './zip_builder.js';

const CKPTS = join(import.meta.dirname, '..', 'fixtures', 'checkpoints');
const dir = mkdtempSync(join(tmpdir(), 'sdvae-large-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('files over 4 GiB', () => {
  it('reads tensors stored after a 4.5 GiB record through ZIP64 fields', () => {
    const small = new Uint8Array(readFileSync(join(CKPTS, 'tensors.pt')));
    const zip = ZipArchive.open(bytesReader(small, 'tensors.pt'));
    const hole = 4.5 * 2 ** 30;
    const records = [
      { name: 'big/padding.bin', hole },
      ...[...zip.records.keys()].map((n) => ({ name: n.replace(/^tensors\//, 'big/'), data: zip.read(n) })),
    ];
    const path = join(dir, 'big.pt');
    const size = writeZipFile(path, records, { zip64: true, align: 64 });
    expect(statSync(path).size).toBe(size);
    expect(size).toBeGreaterThan(2 ** 32);
    const f = openTorchFile(path);
    try {
      const t = (f.root as Map<string, TorchTensor>).get('f32')!;
      expect(t.storage.offset).toBeGreaterThan(hole); // really past 4 GiB
      const ref = openTorchFile(join(CKPTS, 'tensors.pt'));
      const want = (ref.root as Map<string, TorchTensor>).get('f32')!;
      expect(toF32('F32', f.tensorBytes(t))).toEqual(toF32('F32', ref.tensorBytes(want)));
      ref.close();
    } finally {
      f.close();
    }
  });
});
