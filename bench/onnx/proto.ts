// A minimal protobuf writer for the ONNX messages a model file needs (onnx/onnx.proto, proto3 wire
// format): ModelProto, OperatorSetIdProto, GraphProto, NodeProto, AttributeProto, TensorProto,
// ValueInfoProto and the TypeProto/TensorShapeProto it holds. Only writing, only the fields used here.
//
// Wire format: every field is a tag varint (field_number << 3 | wire_type) then its value; wire type 0
// is a varint, 2 is length-delimited (bytes, strings, nested messages, packed repeated scalars), 5 is a
// 32-bit little-endian value (float). A message is a list of byte chunks, so the ~200 MB of weights
// are copied once, into the final file (`encode`), not once per nesting level.

/** A message being written: its encoded chunks and their total length. */
export class Message {
  readonly chunks: Uint8Array[] = [];
  length = 0;

  private push(b: Uint8Array): this {
    this.chunks.push(b);
    this.length += b.length;
    return this;
  }

  private tag(field: number, wireType: 0 | 2 | 5): this {
    return this.push(varint(BigInt(field * 8 + wireType)));
  }

  /** An int32/int64/enum field (negative values as 10-byte two's complement, as protobuf does). */
  int(field: number, v: number): this {
    return this.tag(field, 0).push(varint(BigInt.asUintN(64, BigInt(v))));
  }

  float(field: number, v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    return this.tag(field, 5).push(b);
  }

  bytes(field: number, data: Uint8Array): this {
    return this.tag(field, 2).push(varint(BigInt(data.length))).push(data);
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  message(field: number, m: Message): this {
    this.tag(field, 2).push(varint(BigInt(m.length)));
    for (const c of m.chunks) this.push(c);
    return this;
  }

  /** A packed repeated int64 field. */
  packedInts(field: number, vs: readonly number[]): this {
    return this.bytes(field, concat(vs.map((v) => varint(BigInt.asUintN(64, BigInt(v))))));
  }

  /** The message's bytes (for the outermost message: the file). */
  encode(): Uint8Array {
    return concat(this.chunks, this.length);
  }
}

function varint(v: bigint): Uint8Array {
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v) byte |= 0x80;
    out.push(byte);
  } while (v);
  return Uint8Array.from(out);
}

function concat(chunks: Uint8Array[], length = chunks.reduce((a, c) => a + c.length, 0)): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

// --- ONNX messages (field numbers from onnx.proto) ---

/** TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, INT64: 7 } as const;

/** AttributeProto.AttributeType values used here. */
const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, INTS: 7 } as const;

export type AttributeValue = number | string | number[] | { float: number };

/** An attribute: numbers are INT, `{float}` FLOAT, strings STRING, number arrays INTS. */
export function attribute(name: string, value: AttributeValue): Message {
  const m = new Message().string(1, name);
  if (typeof value === 'number') return m.int(3, value).int(20, AttributeType.INT);
  if (typeof value === 'string') return m.string(4, value).int(20, AttributeType.STRING);
  if (Array.isArray(value)) return m.packedInts(8, value).int(20, AttributeType.INTS);
  return m.float(2, value.float).int(20, AttributeType.FLOAT);
}

export function node(opType: string, inputs: readonly string[], outputs: readonly string[], name: string, attrs: Record<string, AttributeValue> = {}): Message {
  const m = new Message();
  for (const i of inputs) m.string(1, i);
  for (const o of outputs) m.string(2, o);
  m.string(3, name).string(4, opType);
  for (const [k, v] of Object.entries(attrs)) m.message(5, attribute(k, v));
  return m;
}

/** A tensor with its values as raw little-endian bytes (raw_data), the compact form ONNX allows. */
export function tensor(name: string, dims: readonly number[], data: Float32Array | BigInt64Array): Message {
  const m = new Message();
  if (dims.length) m.packedInts(1, dims);
  m.int(2, data instanceof Float32Array ? DataType.FLOAT : DataType.INT64).string(8, name);
  return m.bytes(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

/** A graph input or output: name, element type and shape (a string dim is symbolic). */
export function valueInfo(name: string, elemType: number, dims: readonly (number | string)[]): Message {
  const shape = new Message();
  for (const d of dims) shape.message(1, typeof d === 'number' ? new Message().int(1, d) : new Message().string(2, d));
  const tensorType = new Message().int(1, elemType).message(2, shape);
  return new Message().string(1, name).message(2, new Message().message(1, tensorType));
}

export interface GraphParts {
  name: string;
  nodes: Message[];
  initializers: Message[];
  inputs: Message[];
  outputs: Message[];
}

export function graph(g: GraphParts): Message {
  const m = new Message();
  for (const n of g.nodes) m.message(1, n);
  m.string(2, g.name);
  for (const t of g.initializers) m.message(5, t);
  for (const i of g.inputs) m.message(11, i);
  for (const o of g.outputs) m.message(12, o);
  return m;
}

/** A model of the default domain at `opset`; IR version 8 is the one that goes with opsets 17 and 18. */
export function model(g: Message, opset: number, producer: string): Message {
  return new Message()
    .int(1, 8)
    .string(2, producer)
    .message(7, g)
    .message(8, new Message().string(1, '').int(2, opset));
}
