// preparedSize (src/pipeline.ts) says the size prepareImage will give, without cropping or resizing: the
// page plans its first decode from it while the weights download (web/app.ts), so the two must agree.
import { describe, expect, it } from 'vitest';
import { prepareImage, preparedSize, type PrepareOptions } from '../../src/pipeline.js';
import type { RgbImage } from '../../src/io/image.js';

const image = (width: number, height: number): RgbImage => ({ width, height, data: new Uint8Array(width * height * 3).map((_, i) => i & 255) });

describe('preparedSize', () => {
  const cases: [number, number, PrepareOptions][] = [
    [64, 48, {}],
    [64, 48, { centerCrop: true }],
    [40, 72, { centerCrop: true }],
    [50, 30, { resize: [32, 24] }],
    [50, 30, { centerCrop: true, resize: [16, 40] }],
  ];
  for (const [w, h, opts] of cases)
    it(`${w}x${h} ${JSON.stringify(opts)}: the size prepareImage gives`, () => {
      const { image: out } = prepareImage(image(w, h), opts, 8, 'test image');
      expect(preparedSize(w, h, opts)).toEqual([out.width, out.height]);
    });
});
