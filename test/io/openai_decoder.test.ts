// OpenAI decoder.pt mapping, beyond the fixture's layout: the time-embedding table as a traced
// constant (constants.pkl) instead of a buffer, and the one error listing unmapped and missing names.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openaiDecoderTensors, openaiToDiffusers } from '../../src/io/openai_decoder.js';
import { PyObject, PyTuple } from '../../src/io/pickle.js';
import { TorchTensor } from '../../src/io/torch_file.js';
import { openTorchFile } from '../../src/io/file_reader.js';

const FILE = join(import.meta.dirname, '..', 'fixtures', 'checkpoints', 'tiny-consistency-decoder.pt');

function embedTimeState(root: unknown): Map<unknown, unknown> {
  const blocks = ((root as PyObject).state as Map<string, unknown>).get('blocks') as PyObject;
  return ((blocks.state as Map<string, unknown>).get('embed_time') as PyObject).state as Map<unknown, unknown>;
}

describe("OpenAI decoder.pt names", () => {
  it('maps the leaves of each block kind, up blocks reversed', () => {
    expect(openaiToDiffusers('blocks.up_0_conv_2.f_s.w', 3)).toBe('up_blocks.2.resnets.2.conv_shortcut.weight');
    expect(openaiToDiffusers('blocks.up_2_upsamp.gn_1.g', 3)).toBe('up_blocks.0.upsamplers.0.norm1.weight');
    expect(openaiToDiffusers('blocks.down_1_downsamp.f_t.b', 3)).toBe('down_blocks.1.downsamplers.0.time_emb_proj.bias');
    expect(openaiToDiffusers('blocks.output.gn.g', 3)).toBe('conv_norm_out.weight');
    expect(openaiToDiffusers('blocks.mid_0.f_q.w', 3)).toBeUndefined();
  });

  it('finds the table among the traced constants when embed_time has none', () => {
    const f = openTorchFile(FILE);
    try {
      const state = embedTimeState(f.root);
      const table = state.get('emb') as TorchTensor;
      state.delete('emb');
      const other = new TorchTensor(table.storage, table.dtype, 0, [3], [1]);
      const found = openaiDecoderTensors({ ...f, constants: new PyTuple([other, table]) });
      expect(found.timeTable).toBe('constants.pkl[1]');
      expect(found.tensors.get('decoder_unet.time_proj.weight')).toBe(table);
    } finally {
      f.close();
    }
  });

  it('takes the table from an nn.Embedding submodule (embed_time.emb.weight) too', () => {
    const f = openTorchFile(FILE);
    try {
      const state = embedTimeState(f.root);
      const table = state.get('emb') as TorchTensor;
      const embedding = new PyObject(null, [], 'newobj');
      embedding.state = new Map([['weight', table]]);
      state.set('emb', embedding);
      const found = openaiDecoderTensors({ ...f });
      expect(found.timeTable).toBe('blocks.embed_time.emb.weight');
      expect(found.tensors.get('decoder_unet.time_proj.weight')).toBe(table);
    } finally {
      f.close();
    }
  });

  it('lists every name that does not map and every missing tensor in one error naming the file', () => {
    const f = openTorchFile(FILE);
    try {
      const state = embedTimeState(f.root);
      const table = state.get('emb');
      state.delete('emb'); // no table anywhere now, and a leaf OpenAI's module does not have:
      const stray = new PyObject(null, [], 'newobj');
      stray.state = new Map([['w', table]]);
      state.set('f_3', stray);
      expect(() => openaiDecoderTensors({ ...f, constants: undefined })).toThrow(
        /tiny-consistency-decoder\.pt: not a consistency decoder this reader can map \(2 problem\(s\)\):\n  no diffusers name for blocks\.embed_time\.f_3\.w\n  missing: the time-embedding table/,
      );
    } finally {
      f.close();
    }
  });
});
