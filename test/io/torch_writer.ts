// Writes torch.save-style zip files for tests (protocol-2 pickles, as torch writes them), so layouts the
// fixtures do not cover (diffusers .bin, `vae.` prefixes, nested state_dicts, parameters, f16 storages,
// full SD checkpoints) can be built from the tiny models' tensors.
import { buildZip } from './zip_builder.js';

export interface TensorSpec {
  storage: 'FloatStorage' | 'HalfStorage' | 'BFloat16Storage' | 'DoubleStorage' | 'LongStorage';
  shape: number[];
  /** Raw little-endian storage bytes. */
  data: Uint8Array;
  parameter?: boolean;
}
export type Obj = string | number | TensorSpec | Map<string, Obj>;

const SIZES = { FloatStorage: 4, HalfStorage: 2, BFloat16Storage: 2, DoubleStorage: 8, LongStorage: 8 };

export function torchSave(obj: Obj, top = 'archive'): Uint8Array {
  const out: number[] = [0x80, 2];
  const storages: Uint8Array[] = [];
  const enc = new TextEncoder();
  const u32 = (v: number) => out.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
  const str = (s: string) => {
    const b = enc.encode(s);
    out.push(0x58);
    u32(b.length);
    out.push(...b);
  };
  const int = (v: number) => (out.push(0x4a), u32(v));
  const global = (m: string, n: string) => out.push(0x63, ...enc.encode(`${m}\n${n}\n`));
  const tuple = (items: number[]) => (out.push(0x28), items.forEach(int), out.push(0x74));
  const emptyOrderedDict = () => (global('collections', 'OrderedDict'), out.push(0x29, 0x52));
  const tensor = (t: TensorSpec) => {
    if (t.parameter) (global('torch._utils', '_rebuild_parameter'), out.push(0x28));
    global('torch._utils', '_rebuild_tensor_v2');
    out.push(0x28, 0x28);
    str('storage');
    global('torch', t.storage);
    str(String(storages.length));
    str('cpu');
    int(t.data.length / SIZES[t.storage]);
    out.push(0x74, 0x51); // TUPLE, BINPERSID
    storages.push(t.data);
    int(0);
    tuple(t.shape);
    const stride = t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
    tuple(stride);
    out.push(0x89); // NEWFALSE
    emptyOrderedDict();
    out.push(0x74, 0x52); // TUPLE, REDUCE
    if (t.parameter) (out.push(0x88), emptyOrderedDict(), out.push(0x74, 0x52));
  };
  const value = (v: Obj) => {
    if (typeof v === 'string') return str(v);
    if (typeof v === 'number') return int(v);
    if (v instanceof Map) {
      out.push(0x7d);
      if (!v.size) return;
      out.push(0x28);
      for (const [k, x] of v) (str(k), value(x));
      out.push(0x75);
      return;
    }
    tensor(v);
  };
  value(obj);
  out.push(0x2e);
  return buildZip([
    { name: `${top}/data.pkl`, data: new Uint8Array(out) },
    ...storages.map((data, i) => ({ name: `${top}/data/${i}`, data })),
    { name: `${top}/version`, data: enc.encode('3\n') },
  ], { align: 64 });
}
