// npm run bench:profile's grouping (bench/profile.ts) of the labels real ops record: a Winograd conv's
// three passes (winograd.ts) are one kind and three stages, for both GEMM cores and every band.
import { describe, expect, it } from 'vitest';
import { opKind, winogradStage } from '../../bench/profile.js';
import { Conv2dWeight, conv2d, type ConvVariant } from '../../src/kernels/conv2d.js';
import { useGpu } from '../helpers.js';

const gpu = useGpu();

describe('bench:profile op kinds', () => {
  for (const variant of ['winograd4', 'winograd-shared'] as ConvVariant[])
    it(`a ${variant} conv records input, gemm and output passes per band, grouped as one kind, three stages`, async () => {
      const g = gpu();
      const [h, w, cin, cout] = [24, 20, 8, 12];
      const x = g.upload(new Float32Array(h * w * cin).fill(0.5), [1, h, w, cin]);
      const k = Conv2dWeight.fromTorch(g, new Float32Array(9 * cin * cout).fill(0.01), [cout, cin, 3, 3], new Float32Array(cout));
      const saved = g.maxBindingBytes;
      g.maxBindingBytes = 4 * 1024; // a few tile rows per band: several bands
      g.opLog = [];
      try {
        conv2d(g, x, k, { padding: [1, 1, 1, 1], variant }, 'decoder.conv_in').release();
      } finally {
        g.maxBindingBytes = saved;
      }
      await g.sync();
      const labels = g.opLog.map((o) => o.label).filter((l) => l.includes(' winograd F('));
      g.opLog = null;
      x.release();
      k.release();
      const bands = labels.length / 3;
      expect(bands).toBeGreaterThan(1);
      expect(Number.isInteger(bands)).toBe(true);
      expect(labels.map(opKind)).toEqual(labels.map(() => 'conv 3x3, Winograd'));
      expect(labels.map(winogradStage)).toEqual([...Array(bands)].flatMap(() => ['input transforms', 'GEMMs', 'output transforms']));
      for (const l of labels) expect(l.startsWith('decoder.conv_in [1,24,20,8]->[1,24,20,12] k3x3s1 winograd F(')).toBe(true);
    });

  it('other ops have no Winograd stage', () => {
    expect(winogradStage('decoder.up_blocks.3.resnets.0.conv_shortcut [1,256,256,256]->[1,256,256,128] k1x1s1')).toBeUndefined();
    expect(winogradStage('winograd weight transform [128, 128, 3, 3] F(4x4,3x3)')).toBeUndefined();
    expect(opKind('winograd weight transform [128, 128, 3, 3] F(4x4,3x3)')).toBe('Winograd weight transform (U)');
  });
});
