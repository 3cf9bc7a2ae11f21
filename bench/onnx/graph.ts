// Building an ONNX graph node by node: a GraphBuilder names every intermediate value, holds the
// initializers (weights, named as in the checkpoint, and small constants), and has the few composite
// layers the SD VAE decoder needs, each written with opset-17 operators the way torch.onnx exports the
// PyTorch module (so ONNX Runtime sees the graph a user exporting diffusers would give it):
//
//   Conv2d      Conv (weights OIHW, pads [top, left, bottom, right])
//   GroupNorm   Reshape [N, G, -1] -> InstanceNormalization (scale 1, bias 0) -> Reshape back
//               -> Mul gamma[C,1,1] -> Add beta[C,1,1]       (GroupNormalization is opset 18+; its
//               opset-18 form scales per group, not per channel, so the reshape form is the safe one)
//   SiLU        x * Sigmoid(x)
//   Linear      MatMul by Wᵀ (stored transposed) + bias, on [N, tokens, C]
//   nearest 2x  Resize, mode nearest, asymmetric coordinates, floor (torch's F.interpolate nearest)

import { DataType, graph, model, node, tensor, valueInfo, type AttributeValue, type Message } from './proto.js';

/** The values of the checkpoint tensor `name`, which must have `shape` (row-major, PyTorch layout). */
export type WeightGetter = (name: string, shape: readonly number[]) => Float32Array;

export const OPSET = 17;

export class GraphBuilder {
  private readonly nodes: Message[] = [];
  private readonly initializers: Message[] = [];
  private readonly constants = new Map<string, string>();
  private count = 0;

  constructor(readonly weights: WeightGetter) {}

  /** Adds node `opType` and returns the name of its (single) output, `label` made unique. */
  op(opType: string, inputs: readonly string[], label: string, attrs: Record<string, AttributeValue> = {}): string {
    const out = `${label}#${this.count++}`;
    this.nodes.push(node(opType, inputs, [out], out, attrs));
    return out;
  }

  /** The checkpoint tensor `name` as an initializer of the same name (optionally reshaped or transposed). */
  weight(name: string, shape: readonly number[], as: { dims?: number[]; transpose2d?: boolean } = {}): string {
    let values = this.weights(name, shape);
    let dims = as.dims ?? [...shape];
    if (as.transpose2d) {
      const [rows, cols] = shape;
      const t = new Float32Array(values.length);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = values[r * cols + c];
      values = t;
      dims = [cols, rows];
    }
    const id = as.transpose2d ? `${name}.T` : name;
    this.initializers.push(tensor(id, dims, values));
    return id;
  }

  /** A constant initializer, shared by every node that uses the same values. */
  constant(values: readonly number[], type: 'int64' | 'float', dims: number[] = [values.length]): string {
    const key = `${type}:${dims}:${values}`;
    const known = this.constants.get(key);
    if (known) return known;
    const id = `const_${type}_${this.constants.size}`;
    const data = type === 'int64' ? BigInt64Array.from(values.map((v) => BigInt(v))) : Float32Array.from(values);
    this.initializers.push(tensor(id, dims, data));
    this.constants.set(key, id);
    return id;
  }

  conv(prefix: string, x: string, cin: number, cout: number, k: number, pads = [(k - 1) / 2, (k - 1) / 2, (k - 1) / 2, (k - 1) / 2], stride = 1): string {
    const w = this.weight(`${prefix}.weight`, [cout, cin, k, k]);
    const b = this.weight(`${prefix}.bias`, [cout]);
    const [top, left, bottom, right] = pads;
    return this.op('Conv', [x, w, b], prefix, { kernel_shape: [k, k], pads: [top, left, bottom, right], strides: [stride, stride] });
  }

  groupNorm(prefix: string, x: string, channels: number, groups: number, eps: number): string {
    const grouped = this.op('Reshape', [x, this.constant([0, groups, -1], 'int64')], `${prefix}.grouped`);
    const normed = this.op('InstanceNormalization', [grouped, this.constant(new Array(groups).fill(1), 'float'), this.constant(new Array(groups).fill(0), 'float')], `${prefix}.instance_norm`, { epsilon: { float: eps } });
    const back = this.op('Reshape', [normed, this.op('Shape', [x], `${prefix}.shape`)], `${prefix}.ungrouped`);
    const scaled = this.op('Mul', [back, this.weight(`${prefix}.weight`, [channels], { dims: [channels, 1, 1] })], `${prefix}.scale`);
    return this.op('Add', [scaled, this.weight(`${prefix}.bias`, [channels], { dims: [channels, 1, 1] })], prefix);
  }

  silu(x: string, label: string): string {
    return this.op('Mul', [x, this.op('Sigmoid', [x], `${label}.sigmoid`)], label);
  }

  /** x [N, tokens, in] -> [N, tokens, out]: x·Wᵀ + b, W [out, in] as diffusers' nn.Linear stores it. */
  linear(prefix: string, x: string, cin: number, cout: number): string {
    const y = this.op('MatMul', [x, this.weight(`${prefix}.weight`, [cout, cin], { transpose2d: true })], `${prefix}.matmul`);
    return this.op('Add', [y, this.weight(`${prefix}.bias`, [cout])], prefix);
  }

  upsampleNearest2x(x: string, label: string): string {
    return this.op('Resize', [x, '', this.constant([1, 1, 2, 2], 'float')], label, { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' });
  }

  /**
   * The ONNX model file: one f32 input and one f32 output, NCHW, their batch and spatial dims symbolic
   * (`batch`, `height`, `width`; the output's sides get their own names as ONNX cannot relate them).
   */
  encode(input: { name: string; channels: number }, output: { name: string; channels: number; value: string }, graphName: string): Uint8Array {
    this.nodes.push(node('Identity', [output.value], [output.name], `${output.name}.identity`));
    const parts = {
      name: graphName,
      nodes: this.nodes,
      initializers: this.initializers,
      inputs: [valueInfo(input.name, DataType.FLOAT, ['batch', input.channels, 'height', 'width'])],
      outputs: [valueInfo(output.name, DataType.FLOAT, ['batch', output.channels, 'out_height', 'out_width'])],
    };
    return model(graph(parts), OPSET, 'sdvae-webgpu bench/onnx').encode();
  }
}
