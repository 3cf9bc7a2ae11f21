// torch.save / torch.jit.save files read as data: the object tree of the pickle, with every tensor a
// TorchTensor that knows where its bytes are (see docs/checkpoints.md).
//
//   zip (torch >= 1.6, and TorchScript)   <top>/data.pkl + <top>/data/<key> storages (+ byteorder);
//                                         TorchScript also has constants.pkl + constants/<key>, and
//                                         code/, which is never read.
//   legacy (before 1.6)                   five pickles one after another: magic number, protocol 1001,
//                                         sys_info, the object, the storage keys; then per key an int64
//                                         numel and the raw storage bytes.
//
// The pickle's REDUCE calls are interpreted, never made: `torch._utils._rebuild_tensor_v2(storage,
// offset, size, stride, ...)` and its relatives become TorchTensor, `OrderedDict()` a Map, storage
// classes and dtypes stay symbols, and any other global becomes an inert PyObject (refused by name in
// strict mode). A tensor is read with one positioned read of the storage span it covers; non-contiguous
// strides and views into a shared storage are gathered element by element.

import { CheckpointFormatError } from './byte_reader.js';
import type { SyncByteSource } from './byte_source.js';
import { PickleTruncatedError, PyGlobal, PyObject, PySet, PyTuple, describe, unpickle, type PickleHooks, type PyValue } from './pickle.js';
import { ZipArchive } from './zip.js';
import { TORCH_DTYPE_SIZE, torchTensorBytes, type TorchDType } from './torch_tensor.js';

export { TORCH_DTYPE_SIZE, type TorchDType } from './torch_tensor.js';

const STORAGE_CLASSES: Record<string, TorchDType> = {
  FloatStorage: 'F32', DoubleStorage: 'F64', HalfStorage: 'F16', BFloat16Storage: 'BF16', LongStorage: 'I64',
  IntStorage: 'I32', ShortStorage: 'I16', CharStorage: 'I8', ByteStorage: 'U8', BoolStorage: 'BOOL',
};
const DTYPES: Record<string, TorchDType> = {
  float32: 'F32', float: 'F32', float64: 'F64', double: 'F64', float16: 'F16', half: 'F16', bfloat16: 'BF16',
  int64: 'I64', long: 'I64', int32: 'I32', int: 'I32', int16: 'I16', short: 'I16', int8: 'I8', uint8: 'U8', bool: 'BOOL',
};

/** A storage: `numel` elements of `dtype` at absolute file offset `offset`. */
export interface TorchStorage {
  key: string;
  dtype: TorchDType;
  numel: number;
  /** Absolute byte offset in the file (set once the storage's record is located). */
  offset: number;
  /** For an untyped storage (`_rebuild_tensor_v3`), numel counts bytes. */
  untyped: boolean;
}

export class TorchTensor {
  constructor(readonly storage: TorchStorage, readonly dtype: TorchDType, readonly offset: number, readonly shape: number[], readonly stride: number[]) {}
  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
}

export interface TorchFile {
  path: string;
  format: 'zip' | 'legacy';
  /** The unpickled object (data.pkl, or the legacy file's object). */
  root: PyValue;
  /** TorchScript only: the unpickled constants.pkl (a tuple of tensors), else undefined. */
  constants: PyValue;
  /** Globals kept as inert objects (non-strict mode), e.g. pytorch_lightning's ModelCheckpoint. */
  inertGlobals: string[];
  reader: SyncByteSource;
  /** Raw little-endian bytes of a tensor in its stored dtype, gathered contiguous (C order). */
  tensorBytes(t: TorchTensor): Uint8Array;
  close(): void;
}

export interface TorchOpenOptions {
  /** Refuse every global outside the torch allow-list by name (default: keep them inert). */
  strict?: boolean;
  /** Largest pickle accepted, in bytes (default 256 MiB). */
  maxPickleBytes?: number;
}

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

/** Parses a torch file from any positioned byte source. */
export function readTorchFile(reader: SyncByteSource, opts: TorchOpenOptions = {}): TorchFile {
  const maxPickle = opts.maxPickleBytes ?? 256 * 2 ** 20;
  const head = reader.read(0, Math.min(4, reader.size));
  const isZip = head.length === 4 && ZIP_MAGIC.every((b, i) => head[i] === b);
  const inert = new Set<string>();
  const storages = new Map<string, TorchStorage>();
  const base = { path: reader.name, reader, inertGlobals: [] as string[], close: () => reader.close(), tensorBytes: (t: TorchTensor) => torchTensorBytes(reader, t) };
  if (isZip) {
    const zip = ZipArchive.open(reader);
    const pkl = [...zip.records.keys()].find((n) => /^[^/]*\/?data\.pkl$/.test(n) && (n.match(/\//g) ?? []).length <= 1);
    if (!pkl) throw new CheckpointFormatError(reader.name, 'zip archive has no data.pkl record (not a torch.save file?)');
    const top = pkl.slice(0, pkl.length - 'data.pkl'.length);
    checkByteorder(zip, top, reader.name);
    const load = (record: string, folder: string) => {
      const { size } = zip.locate(top + record);
      if (size > maxPickle) throw new CheckpointFormatError(reader.name, `${top + record} is ${size} bytes, over the ${maxPickle}-byte pickle limit`);
      const hooks = torchHooks(`${reader.name} (${top + record})`, opts.strict ?? false, inert, (pid) => zipStorage(pid, zip, top + folder, storages, reader.name));
      return unpickle(zip.read(top + record), `${reader.name} (${top + record})`, hooks).value;
    };
    const root = load('data.pkl', 'data/');
    const constants = zip.records.has(`${top}constants.pkl`) ? load('constants.pkl', 'constants/') : undefined;
    return { ...base, format: 'zip', root, constants, inertGlobals: [...inert] };
  }
  if (head[0] !== 0x80) throw new CheckpointFormatError(reader.name, 'not a PyTorch file (neither a zip archive nor a pickle)');
  return { ...base, format: 'legacy', ...readLegacy(reader, opts.strict ?? false, inert, storages, maxPickle), constants: undefined, inertGlobals: [...inert] };
}

function checkByteorder(zip: ZipArchive, top: string, file: string): void {
  if (!zip.records.has(`${top}byteorder`)) return; // absent: little-endian (torch before 2.1 wrote none)
  const order = new TextDecoder().decode(zip.read(`${top}byteorder`)).trim();
  if (order !== 'little') throw new CheckpointFormatError(file, `byteorder is "${order}"; only little-endian files are supported`);
}

/** ('storage', StorageClass, key, location, numel) -> the storage record data/<key>. */
function zipStorage(pid: PyValue, zip: ZipArchive, folder: string, storages: Map<string, TorchStorage>, file: string): TorchStorage {
  const { dtype, key, numel, untyped } = parsePersistentId(pid, file, 5);
  if (!/^\d+$/.test(key)) throw new CheckpointFormatError(file, `storage key ${JSON.stringify(key)} is not a number`);
  const id = folder + key;
  const seen = storages.get(id);
  if (seen) return seen;
  const bytes = numel * TORCH_DTYPE_SIZE[dtype];
  const { offset, size } = zip.locate(id);
  if (size !== bytes) throw new CheckpointFormatError(file, `storage record ${id} is ${size} bytes but its persistent id says ${numel} x ${dtype} = ${bytes}`);
  const s: TorchStorage = { key: id, dtype, numel: untyped ? numel / TORCH_DTYPE_SIZE[dtype] : numel, offset, untyped };
  storages.set(id, s);
  return s;
}

function parsePersistentId(pid: PyValue, file: string, minLen: number): { dtype: TorchDType; key: string; numel: number; untyped: boolean; view: PyValue } {
  const bad = (why: string): never => {
    throw new CheckpointFormatError(file, `persistent id ${why}`);
  };
  if (!(pid instanceof PyTuple) || pid.items.length < minLen) return bad(`is ${describe(pid)}, expected ('storage', class, key, location, numel)`);
  const [tag, cls, key, , numel, view] = pid.items;
  if (tag !== 'storage') bad(`kind ${JSON.stringify(tag)} is not 'storage'`);
  if (!(cls instanceof PyGlobal)) return bad(`storage class is ${describe(cls)}`);
  const untyped = cls.name === 'UntypedStorage';
  const dtype = untyped ? 'U8' : STORAGE_CLASSES[cls.name];
  if (cls.module !== 'torch' || !dtype) bad(`storage class ${cls.qualified} is not a torch storage type`);
  if (typeof key !== 'string' || key.length > 64) bad(`key is ${describe(key)}`);
  if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) bad(`numel is ${describe(numel)}`);
  return { dtype: dtype as TorchDType, key: key as string, numel: numel as number, untyped, view };
}

const ALLOWED = new Set([
  'collections.OrderedDict', 'collections.defaultdict', 'builtins.set', '__builtin__.set', '_codecs.encode', 'torch.Size', 'torch.Tensor',
  'torch.nn.parameter.Parameter', 'torch._utils._rebuild_tensor', 'torch._utils._rebuild_tensor_v2', 'torch._utils._rebuild_tensor_v3',
  'torch._utils._rebuild_parameter', 'torch._utils._rebuild_parameter_with_state', 'torch._tensor._rebuild_from_type_v2',
  'torch.jit._pickle.restore_type_tag', 'torch.jit._pickle.build_intlist', 'torch.jit._pickle.build_tensorlist',
  'torch.jit._pickle.build_doublelist', 'torch.jit._pickle.build_boollist', 'torch.jit._pickle.build_genericlist',
]);

function isAllowed(g: PyGlobal): boolean {
  return ALLOWED.has(g.qualified) || (g.module === 'torch' && (g.name in STORAGE_CLASSES || g.name in DTYPES || g.name === 'UntypedStorage')) || g.module === '__torch__' || g.module.startsWith('__torch__.');
}

/** The torch meaning of each REDUCE: data, never a call. */
export function torchHooks(where: string, strict: boolean, inert: Set<string>, persistentLoad: (pid: PyValue) => PyValue): PickleHooks {
  const fail = (problem: string): never => {
    throw new CheckpointFormatError(where, problem);
  };
  const reduce = (callee: PyValue, args: PyValue[]): PyValue => {
    if (!(callee instanceof PyGlobal)) return new PyObject(callee, args, 'reduce');
    switch (callee.qualified) {
      case 'collections.OrderedDict':
      case 'collections.defaultdict':
        return new Map();
      case 'builtins.set':
      case '__builtin__.set':
        return new PySet(Array.isArray(args[0]) ? [...args[0]] : []);
      case '_codecs.encode':
        return typeof args[0] === 'string' ? Uint8Array.from(args[0], (c) => c.charCodeAt(0) & 0xff) : fail('_codecs.encode of a non-string');
      case 'torch.Size':
        return args[0] instanceof PyTuple ? args[0] : fail('torch.Size of a non-tuple');
      case 'torch._utils._rebuild_tensor':
      case 'torch._utils._rebuild_tensor_v2':
        return rebuildTensor(args, undefined, fail);
      case 'torch._utils._rebuild_tensor_v3':
        return rebuildTensor(args, args[6], fail);
      case 'torch._utils._rebuild_parameter':
      case 'torch._utils._rebuild_parameter_with_state':
        return args[0] instanceof TorchTensor ? args[0] : fail(`${callee.qualified} of ${describe(args[0])}`);
      case 'torch._tensor._rebuild_from_type_v2':
        return args[2] instanceof PyTuple ? reduce(args[0], args[2].items) : fail('_rebuild_from_type_v2 without an argument tuple');
      case 'torch.jit._pickle.restore_type_tag':
      case 'torch.jit._pickle.build_intlist':
      case 'torch.jit._pickle.build_tensorlist':
      case 'torch.jit._pickle.build_doublelist':
      case 'torch.jit._pickle.build_boollist':
      case 'torch.jit._pickle.build_genericlist':
        return args[0];
    }
    return new PyObject(callee, args, 'reduce');
  };
  return {
    reduce,
    persistentLoad,
    onGlobal(g) {
      if (isAllowed(g)) return;
      if (strict) fail(`the pickle names the global ${g.qualified}, which --strict refuses (only torch tensor and container types are allowed)`);
      inert.add(g.qualified);
    },
  };
}

function rebuildTensor(args: PyValue[], dtypeArg: PyValue, fail: (p: string) => never): TorchTensor {
  const [storage, offset, size, stride] = args;
  if (!isStorage(storage)) return fail(`a tensor's storage is ${describe(storage)}`);
  const ints = (v: PyValue, what: string): number[] => {
    if (!(v instanceof PyTuple) || v.items.length > 8 || !v.items.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0))
      return fail(`a tensor's ${what} is not a tuple of at most 8 non-negative integers`);
    return v.items as number[];
  };
  const shape = ints(size, 'size');
  const strides = ints(stride, 'stride');
  if (strides.length !== shape.length) fail(`a tensor has ${shape.length} sizes but ${strides.length} strides`);
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) fail(`a tensor's storage offset is ${describe(offset)}`);
  let dtype = storage.dtype;
  if (storage.untyped) {
    const d = dtypeArg instanceof PyGlobal && dtypeArg.module === 'torch' ? DTYPES[dtypeArg.name] : undefined;
    if (!d) return fail(`_rebuild_tensor_v3 dtype is ${describe(dtypeArg)}`);
    dtype = d;
  }
  const elems = storage.untyped ? Math.floor((storage.numel * TORCH_DTYPE_SIZE.U8) / TORCH_DTYPE_SIZE[dtype]) : storage.numel;
  // offset + sum((size_i - 1) * stride_i) + 1 <= numel, in BigInt so that no product overflows.
  // A tensor with more elements than its storage is a broadcast (stride-0) view; refusing it bounds
  // what a read allocates by the storage, which lies inside the file.
  const numel = shape.reduce((a, n) => a * n, 1);
  if (numel > elems) fail(`a tensor [${shape}] has ${numel} elements, more than its storage ${storage.key} (${elems}): a broadcast view; save it with .contiguous()`);
  if (!shape.includes(0)) {
    let last = BigInt(offset as number);
    shape.forEach((n, i) => (last += BigInt(n - 1) * BigInt(strides[i])));
    if (last + 1n > BigInt(elems)) fail(`a tensor [${shape}] with strides [${strides}] at offset ${offset} needs ${last + 1n} elements but its storage ${storage.key} has ${elems}`);
  }
  return new TorchTensor(storage, dtype, offset as number, shape, strides);
}

function isStorage(v: PyValue): v is TorchStorage {
  return typeof v === 'object' && v !== null && 'numel' in v && 'dtype' in v && 'key' in v && 'untyped' in v;
}

function readLegacy(reader: SyncByteSource, strict: boolean, inert: Set<string>, storages: Map<string, TorchStorage>, maxPickle: number): { root: PyValue } {
  const file = reader.name;
  // The pickles' total length is unknown until STOP: read a prefix and grow it when a pickle runs out.
  let prefix = reader.read(0, Math.min(reader.size, 1 << 20));
  const run = (start: number, hooks: PickleHooks) => {
    for (;;) {
      try {
        return unpickle(prefix, file, hooks, start);
      } catch (e) {
        if (!(e instanceof PickleTruncatedError) || prefix.length >= reader.size) throw e;
        if (prefix.length >= maxPickle) throw new CheckpointFormatError(file, `the legacy pickles exceed the ${maxPickle}-byte limit`);
        prefix = reader.read(0, Math.min(reader.size, prefix.length * 4, maxPickle));
      }
    }
  };
  const plain = torchHooks(file, strict, inert, () => {
    throw new CheckpointFormatError(file, 'unexpected persistent id in a legacy header pickle');
  });
  const magic = run(0, plain);
  if (magic.value !== LEGACY_MAGIC) throw new CheckpointFormatError(file, 'not a PyTorch file (a pickle without the legacy torch.save magic number)');
  const proto = run(magic.end, plain);
  if (proto.value !== 1001) throw new CheckpointFormatError(file, `legacy protocol version ${String(proto.value)}, expected 1001`);
  const sysInfo = run(proto.end, plain);
  if (sysInfo.value instanceof Map && sysInfo.value.get('little_endian') === false) throw new CheckpointFormatError(file, 'big-endian legacy file; only little-endian files are supported');
  const views: { storage: TorchStorage; root: string; viewOffset: number }[] = [];
  const objHooks = torchHooks(file, strict, inert, (pid) => {
    const { dtype, key, numel, view } = parsePersistentId(pid, file, 5);
    if (view !== null && view !== undefined) {
      // (view_key, offset, view_size): a storage view into root storage `key`, resolved below.
      const v = view instanceof PyTuple ? view.items : [];
      if (typeof v[0] !== 'string' || typeof v[1] !== 'number' || typeof v[2] !== 'number') throw new CheckpointFormatError(file, 'malformed legacy storage view metadata');
      const s: TorchStorage = { key: v[0] as string, dtype, numel: v[2] as number, offset: -1, untyped: false };
      views.push({ storage: s, root: key, viewOffset: v[1] as number });
      return s;
    }
    const seen = storages.get(key);
    if (seen) return seen;
    const s: TorchStorage = { key, dtype, numel, offset: -1, untyped: false };
    storages.set(key, s);
    return s;
  });
  const obj = run(sysInfo.end, objHooks);
  const keys = run(obj.end, plain);
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === 'string')) throw new CheckpointFormatError(file, 'legacy storage key list is not a list of strings');
  let pos = keys.end;
  for (const key of keys.value as string[]) {
    const s = storages.get(key);
    if (!s) throw new CheckpointFormatError(file, `legacy storage ${key} is listed but no tensor refers to it`);
    if (pos + 8 > reader.size) throw new CheckpointFormatError(file, `legacy storage ${key}: the file ends at byte ${reader.size}, before its size field`);
    const n = new DataView(reader.read(pos, 8).buffer).getBigInt64(0, true);
    if (n !== BigInt(s.numel)) throw new CheckpointFormatError(file, `legacy storage ${key} holds ${n} elements but its persistent id says ${s.numel}`);
    s.offset = pos + 8;
    pos = s.offset + s.numel * TORCH_DTYPE_SIZE[s.dtype];
    if (pos > reader.size) throw new CheckpointFormatError(file, `legacy storage ${key} is short: it needs bytes up to ${pos} but the file is ${reader.size} bytes`);
  }
  for (const s of storages.values()) if (s.offset < 0) throw new CheckpointFormatError(file, `legacy storage ${s.key} is used by a tensor but missing from the storage list`);
  for (const v of views) {
    const root = storages.get(v.root);
    if (!root || v.viewOffset + v.storage.numel > root.numel) throw new CheckpointFormatError(file, `legacy storage view ${v.storage.key} does not fit in storage ${v.root}`);
    v.storage.offset = root.offset + v.viewOffset * TORCH_DTYPE_SIZE[root.dtype];
  }
  return { root: obj.value };
}
