// A pickle machine that never calls anything (PyTorch checkpoints are pickles; see
// docs/checkpoints.md and the opcode list of Python's Lib/pickletools.py).
//
// A pickle is a program for a stack machine: opcodes push values, build containers, and, dangerously,
// GLOBAL + REDUCE call any importable function. Here GLOBAL only pushes a PyGlobal symbol, and REDUCE,
// NEWOBJ and BUILD are handed to a `hooks` object that maps the known cases to data (the torch layer
// turns `_rebuild_tensor_v2` into a tensor reference, `OrderedDict` into a Map, ...). Anything else
// becomes an inert PyObject that records what would have been called, and nothing is ever run.
//
// Values: None -> null, bool, int -> number (bigint beyond 2^53), float -> number, str -> string,
// bytes -> Uint8Array, list -> Array, tuple -> PyTuple, dict -> Map (never a plain object: a pickled
// "__proto__" key stays data), set -> PySet.
//
// Limits are checked before anything is allocated: the op count, the stack and mark depth, the memo
// size, and every length field against the bytes that remain.

import { CheckpointFormatError } from './byte_reader.js';

export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}
export class PySet {
  constructor(readonly items: PyValue[]) {}
}
/** `module.name` as GLOBAL or STACK_GLOBAL named it; never imported. */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}
/** What REDUCE/NEWOBJ would have built: the callee, its arguments, and any BUILD state or items. */
export class PyObject {
  state: PyValue = undefined;
  readonly items: PyValue[] = [];
  readonly entries = new Map<PyValue, PyValue>();
  constructor(readonly callee: PyValue, readonly args: PyValue[], readonly how: 'reduce' | 'newobj') {}
}
export type PyValue = null | undefined | boolean | number | bigint | string | Uint8Array | PyValue[] | PyTuple | PySet | PyGlobal | PyObject | Map<PyValue, PyValue> | object;

export interface PickleHooks {
  /** REDUCE of `callee(...args)`; return the value to push. */
  reduce(callee: PyValue, args: PyValue[]): PyValue;
  /** BINPERSID: the persistent id's value. */
  persistentLoad(pid: PyValue): PyValue;
  /** GLOBAL/STACK_GLOBAL: may throw to refuse a symbol (strict mode). */
  onGlobal?(g: PyGlobal): void;
}

export interface PickleLimits {
  maxOps: number;
  maxStack: number;
  maxMarks: number;
  maxMemo: number;
}

export const DEFAULT_PICKLE_LIMITS: PickleLimits = { maxOps: 20_000_000, maxStack: 1_000_000, maxMarks: 10_000, maxMemo: 2_000_000 };

/** The pickle ran out of input before STOP: a caller holding only a prefix may retry with more. */
export class PickleTruncatedError extends CheckpointFormatError {}

const MARK = Symbol('mark');
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Runs the pickle starting at `bytes[start]`; returns the value STOP left and the offset after STOP.
 * `where` names the file (and record) in errors.
 */
export function unpickle(bytes: Uint8Array, where: string, hooks: PickleHooks, start = 0, limits: PickleLimits = DEFAULT_PICKLE_LIMITS): { value: PyValue; end: number } {
  const fail = (problem: string): never => {
    throw new CheckpointFormatError(where, `pickle: ${problem}`);
  };
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: (PyValue | typeof MARK)[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PyValue>();
  let pos = start;
  const need = (n: number) => {
    if (n < 0 || pos + n > bytes.length) throw new PickleTruncatedError(where, `pickle: needs ${n} more bytes at offset ${pos} but the input ends at ${bytes.length}`);
  };
  const u8 = () => (need(1), bytes[pos++]);
  const u16 = () => (need(2), (pos += 2), dv.getUint16(pos - 2, true));
  const u32 = () => (need(4), (pos += 4), dv.getUint32(pos - 4, true));
  const i32 = () => (need(4), (pos += 4), dv.getInt32(pos - 4, true));
  const u64 = () => {
    need(8);
    const v = dv.getBigUint64(pos, true);
    pos += 8;
    return v > BigInt(bytes.length) ? (need(bytes.length + 1), 0) : Number(v);
  };
  const take = (n: number) => (need(n), bytes.subarray((pos += n) - n, pos));
  const text = (n: number) => {
    try {
      return utf8.decode(take(n));
    } catch (e) {
      if (e instanceof CheckpointFormatError) throw e;
      return fail(`invalid UTF-8 in a string at offset ${pos - n}`);
    }
  };
  const latin1 = (b: Uint8Array): string => String.fromCharCode(...b.subarray(0, 65536)) + (b.length > 65536 ? latin1(b.subarray(65536)) : '');
  const push = (v: PyValue) => {
    if (stack.length >= limits.maxStack) fail(`stack deeper than ${limits.maxStack}`);
    stack.push(v);
  };
  const pop = (): PyValue => {
    if (stack.length === 0 || (marks.length && stack.length <= marks[marks.length - 1])) fail(`stack underflow at offset ${pos - 1}`);
    const v = stack.pop();
    if (v === MARK) return fail(`unexpected MARK at offset ${pos - 1}`);
    return v as PyValue;
  };
  const top = (): PyValue => {
    if (stack.length === 0 || (marks.length && stack.length <= marks[marks.length - 1])) fail(`empty stack at offset ${pos - 1}`);
    return stack[stack.length - 1] as PyValue;
  };
  const popMark = (): PyValue[] => {
    const m = marks.pop();
    if (m === undefined) return fail(`no MARK for the opcode at offset ${pos - 1}`);
    const items = stack.splice(m + 1);
    stack.pop(); // the MARK itself
    return items as PyValue[];
  };
  const memoPut = (i: number) => {
    if (memo.size >= limits.maxMemo && !memo.has(i)) fail(`memo larger than ${limits.maxMemo} entries`);
    memo.set(i, top());
  };
  const memoGet = (i: number) => {
    if (!memo.has(i)) fail(`memo key ${i} used before it was stored`);
    push(memo.get(i));
  };
  const global = (module: string, name: string) => {
    const g = new PyGlobal(module, name);
    hooks.onGlobal?.(g);
    push(g);
  };
  const setItems = (target: PyValue, kv: PyValue[]) => {
    if (kv.length % 2) fail('SETITEMS with an odd number of values');
    const map = target instanceof Map ? target : target instanceof PyObject ? target.entries : fail(`SETITEM(S) on ${describe(target)}, not a dict`);
    for (let i = 0; i < kv.length; i += 2) map.set(kv[i], kv[i + 1]);
  };
  const append = (target: PyValue, items: PyValue[]) => {
    const list = Array.isArray(target) ? target : target instanceof PyObject ? target.items : target instanceof PySet ? target.items : fail(`APPEND(S) on ${describe(target)}, not a list`);
    for (const v of items) list.push(v);
  };

  for (let ops = 0; ; ops++) {
    if (ops >= limits.maxOps) fail(`more than ${limits.maxOps} opcodes`);
    const at = pos;
    const op = u8();
    switch (op) {
      case 0x80: { const p = u8(); if (p > 5) fail(`protocol ${p} is newer than 5`); break; } // PROTO
      case 0x95: u64(); break; // FRAME: a length hint only
      case 0x2e: return { value: pop(), end: pos }; // STOP
      case 0x28: if (marks.length >= limits.maxMarks) fail(`MARKs nested deeper than ${limits.maxMarks}`); marks.push(stack.length); push(MARK as never); break;
      case 0x7d: push(new Map()); break; // EMPTY_DICT
      case 0x5d: push([]); break; // EMPTY_LIST
      case 0x29: push(new PyTuple([])); break; // EMPTY_TUPLE
      case 0x8f: push(new PySet([])); break; // EMPTY_SET
      case 0x74: push(new PyTuple(popMark())); break; // TUPLE
      case 0x85: push(new PyTuple([pop()])); break; // TUPLE1
      case 0x86: { const b = pop(); push(new PyTuple([pop(), b])); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); push(new PyTuple([pop(), b, c])); break; } // TUPLE3
      case 0x6c: push(popMark()); break; // LIST
      case 0x64: { const kv = popMark(); const m = new Map(); setItems(m, kv); push(m); break; } // DICT
      case 0x4e: push(null); break; // NONE
      case 0x88: push(true); break; // NEWTRUE
      case 0x89: push(false); break; // NEWFALSE
      case 0x4a: push(i32()); break; // BININT
      case 0x4b: push(u8()); break; // BININT1
      case 0x4d: push(u16()); break; // BININT2
      case 0x8a: push(signedLE(take(u8()))); break; // LONG1
      case 0x8b: { const n = i32(); if (n < 0 || n > 64) fail(`LONG4 of ${n} bytes (at most 64 accepted)`); push(signedLE(take(n))); break; }
      case 0x47: { need(8); push(dv.getFloat64(pos, false)); pos += 8; break; } // BINFLOAT (big-endian)
      case 0x58: push(text(u32())); break; // BINUNICODE
      case 0x8c: push(text(u8())); break; // SHORT_BINUNICODE
      case 0x8d: push(text(u64())); break; // BINUNICODE8
      case 0x55: push(latin1(take(u8()))); break; // SHORT_BINSTRING
      case 0x54: { const n = i32(); if (n < 0) fail('BINSTRING with a negative length'); push(latin1(take(n))); break; }
      case 0x43: push(take(u8()).slice()); break; // SHORT_BINBYTES
      case 0x42: push(take(u32()).slice()); break; // BINBYTES
      case 0x8e: push(take(u64()).slice()); break; // BINBYTES8
      case 0x63: { const line = () => { const n = bytes.subarray(pos, pos + 4097).indexOf(0x0a); const e = n < 0 ? -1 : pos + n; if (e < 0) throw new PickleTruncatedError(where, `pickle: GLOBAL at offset ${at} has no end of line within 4096 bytes`); return latin1(take(e - pos + 1)).slice(0, -1); }; const m = line(); global(m, line()); break; }
      case 0x93: { const name = pop(); const module = pop(); if (typeof module !== 'string' || typeof name !== 'string') fail(`STACK_GLOBAL at offset ${at} needs two strings`); global(module as string, name as string); break; }
      case 0x52: { const args = pop(); const callee = pop(); if (!(args instanceof PyTuple)) fail(`REDUCE at offset ${at}: arguments are ${describe(args)}, not a tuple`); push(hooks.reduce(callee, (args as PyTuple).items)); break; }
      case 0x81: { const args = pop(); const cls = pop(); if (!(args instanceof PyTuple)) fail(`NEWOBJ at offset ${at}: arguments are ${describe(args)}, not a tuple`); push(new PyObject(cls, (args as PyTuple).items, 'newobj')); break; }
      case 0x62: { const state = pop(); const obj = top(); if (obj instanceof PyObject) obj.state = state; else if (!(obj instanceof Map) && (typeof obj !== 'object' || obj === null)) fail(`BUILD at offset ${at} on ${describe(obj)}`); break; }
      case 0x61: { const v = pop(); append(top(), [v]); break; } // APPEND
      case 0x65: { const items = popMark(); append(top(), items); break; } // APPENDS
      case 0x90: { const items = popMark(); append(top(), items); break; } // ADDITEMS
      case 0x73: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const kv = popMark(); setItems(top(), kv); break; } // SETITEMS
      case 0x71: memoPut(u8()); break; // BINPUT
      case 0x72: memoPut(u32()); break; // LONG_BINPUT
      case 0x94: memoPut(memo.size); break; // MEMOIZE
      case 0x68: memoGet(u8()); break; // BINGET
      case 0x6a: memoGet(u32()); break; // LONG_BINGET
      case 0x51: push(hooks.persistentLoad(pop())); break; // BINPERSID
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: push(top()); break; // DUP
      default:
        fail(`opcode 0x${op.toString(16).padStart(2, '0')} at offset ${at} is not accepted (this reader takes the opcodes torch's weights-only loader takes)`);
    }
  }
}

/** Signed little-endian two's complement (LONG1/LONG4), as a number when it is a safe integer. */
function signedLE(b: Uint8Array): number | bigint {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  if (b.length && b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

export function describe(v: PyValue): string {
  if (v === null) return 'None';
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Map) return 'a dict';
  if (v instanceof PyTuple) return 'a tuple';
  if (v instanceof PyGlobal) return `the global ${v.qualified}`;
  if (v instanceof PyObject) return `an object of ${v.callee instanceof PyGlobal ? v.callee.qualified : 'an unknown class'}`;
  if (v instanceof Uint8Array) return 'bytes';
  return `a ${typeof v}`;
}
