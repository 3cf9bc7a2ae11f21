// The GPU runtime: one GPUDevice, its limits and features, a pipeline cache, a buffer pool, and a
// command encoder that collects many dispatches before one submit (no submit or readback per op).
//
// The core takes a GPUDevice, so a browser can pass its own (`Gpu.fromDevice`). In Node, `Gpu.create()`
// loads Dawn through the `webgpu` package (src/gpu/node.ts).
//
// Every op is recorded inside `gpu.op(label, ...)`: one compute pass with that label, error scopes whose
// errors are reported with the label (op name and shapes), and, when profiling, a pair of timestamps.

import { PlanAhead, type AheadAct } from './ahead.js';
import type { ArenaLayout } from './arena.js';
import { BufferPool } from './pool.js';
import { dtypeBytes, elementBytes, Tensor, type DType } from './tensor.js';
import { Profiler, type OpTiming } from './profile.js';
import { waitPolitely } from './poll.js';

export interface GpuOptions {
  /**
   * The largest storage binding the runtime plans with, in bytes. Defaults to the adapter's
   * maxStorageBufferBindingSize and may only be lower. Tests lower it (e.g. 64 KiB) to force banding.
   */
  maxBindingBytes?: number;
  /**
   * Memory planning: ops are planned (shapes checked, bands computed, buffers accounted at their real
   * size) but nothing is dispatched, uploaded or compiled. pool.getStats() then tells the peak a real
   * run would need. Read-backs return zeros.
   */
  dryRun?: boolean;
  /** Bytes a run may use; runs plan first and refuse with MemoryBudgetError above it (Gpu.memoryBudget). */
  memoryBudget?: number;
  /** Use subgroup operations when the adapter offers them (default true). */
  useSubgroups?: boolean;
  /** Called with the WGSL of every pipeline as it is created (also: env SDVAE_PRINT_WGSL=1). */
  onShader?: (label: string, code: string) => void;
  /**
   * Place model runs' activations in the planned arena (default true; see `planned`). false gives
   * the plain pool (whole buffers reused by size class), for comparison.
   */
  arena?: boolean;
  /**
   * In Node, while this Gpu awaits the device (sync, reads), setImmediate is deferred by a timer of
   * this many ms, so Dawn's binding polls the device without a busy loop (src/gpu/poll.ts; default 1).
   * 0 leaves setImmediate alone (Dawn polls on every turn of the event loop). Browsers: no effect.
   */
  pollIntervalMs?: number;
}

export interface GpuFeatures {
  f16: boolean;
  subgroups: boolean;
  timestamps: boolean;
  /** Smallest subgroup size the adapter reports (0 when unknown). */
  subgroupMinSize: number;
  subgroupMaxSize: number;
}

/** A storage binding of part of a buffer. `base` is the element index (in the tensor's dtype) where it starts. */
export interface BoundRange {
  binding: GPUBufferBinding;
  base: number;
}

interface PendingScope {
  label: string;
  promise: Promise<GPUError | null>;
}

const UNIFORM_CHUNK = 65536;
/** The pass a plan's ops record into: never touched (Gpu.dispatch only notes the pipeline while planning). */
const PLAN_PASS = {} as GPUComputePassEncoder;

export class Gpu {
  readonly pool: BufferPool;
  readonly features: GpuFeatures;
  /** The binding size every kernel plans its bands with (<= adapter's maxStorageBufferBindingSize). */
  maxBindingBytes: number;
  readonly storageAlign: number;
  readonly adapterName: string;
  /** The adapter's info as the device reports it ('' where unknown): what kernel tuning is keyed by (gpu/tune.ts). */
  readonly adapterInfo: { vendor: string; architecture: string; device: string; description: string };
  onShader?: (label: string, code: string) => void;
  /** When set to an array, every recorded op is appended (label and FLOPs; not the ops of a `plan`): for inspection. */
  opLog: { label: string; flops: number }[] | null = null;

  /** Whether `planned` runs use the arena (GpuOptions.arena). */
  useArena: boolean;
  /** The layout of the most recently planned run (for reports: ArenaTrace.peakAt says what is live at its peak). */
  lastLayout: ArenaLayout | undefined;

  private pipelines = new Map<string, PipelineHandle>();
  private layouts = new WeakMap<object, Map<string, ArenaLayout>>();
  private textureBytes = new Map<GPUTexture, number>();
  private planEnd: (() => void)[] = [];
  /** While `planned` plans a run: what its first real pass does ahead (ahead.ts). */
  private aheadPlan: PlanAhead | undefined;
  /** Plans made by `prepare` whose first real run has not come yet: what that run does ahead. */
  private prepared = new WeakMap<ArenaLayout, PlanAhead>();
  private encoder: GPUCommandEncoder | null = null;
  private scopes: PendingScope[] = [];
  private uniformChunks: GPUBuffer[] = [];
  private uniformCpu = new Uint8Array(UNIFORM_CHUNK);
  private uniformChunk = 0;
  private uniformOffset = 0;
  private readonly uniformAlign: number;
  private deviceLost: string | null = null;
  readonly profiler: Profiler;

  private readonly alwaysDry: boolean;
  /** GpuOptions.pollIntervalMs. */
  private readonly pollIntervalMs: number;
  /** Set while `plan` runs: ops are planned, not recorded, on this real device. */
  private planning = false;
  /**
   * The most GPU memory a run may use (bytes), or undefined for no limit. Runs that check it
   * (pipeline.ts: encode, decode) plan first and refuse with MemoryBudgetError when it cannot fit.
   */
  memoryBudget: number | undefined;

  /** Inside `plan` on a real device: model state (caches) must not change. */
  get isPlanning(): boolean {
    return this.planning;
  }

  /** Whether ops are planned rather than recorded: a dry-run Gpu, or inside `plan`. */
  get dryRun(): boolean {
    return this.alwaysDry || this.planning;
  }

  private constructor(readonly device: GPUDevice, adapterName: string, opts: GpuOptions) {
    this.alwaysDry = opts.dryRun ?? false;
    this.pollIntervalMs = opts.pollIntervalMs ?? 1;
    this.memoryBudget = opts.memoryBudget;
    this.useArena = opts.arena ?? true;
    const lim = device.limits;
    this.adapterName = adapterName;
    const bindingLimit = Math.min(lim.maxStorageBufferBindingSize, lim.maxBufferSize);
    if (opts.maxBindingBytes !== undefined && opts.maxBindingBytes > bindingLimit)
      throw new Error(`maxBindingBytes ${opts.maxBindingBytes} is above the device's maxStorageBufferBindingSize ${bindingLimit}`);
    this.maxBindingBytes = opts.maxBindingBytes ?? bindingLimit;
    this.storageAlign = lim.minStorageBufferOffsetAlignment;
    this.uniformAlign = Math.max(16, lim.minUniformBufferOffsetAlignment);
    const info = (device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
    const subgroups = device.features.has('subgroups') && opts.useSubgroups !== false;
    this.adapterInfo = { vendor: info?.vendor ?? '', architecture: info?.architecture ?? '', device: info?.device ?? '', description: info?.description ?? '' };
    this.features = {
      f16: device.features.has('shader-f16'),
      subgroups,
      timestamps: device.features.has('timestamp-query'),
      subgroupMinSize: info?.subgroupMinSize ?? 0,
      subgroupMaxSize: info?.subgroupMaxSize ?? 0,
    };
    this.pool = new BufferPool(device, lim.maxBufferSize, () => this.flush());
    this.pool.dryRun = this.alwaysDry;
    this.profiler = new Profiler(device, this.features.timestamps);
    const envPrint = typeof process !== 'undefined' && process.env?.SDVAE_PRINT_WGSL === '1';
    this.onShader = opts.onShader ?? (envPrint ? (label, code) => console.error(`// ---- ${label}\n${code}`) : undefined);
    device.lost.then((info) => {
      this.deviceLost = `${info.reason}: ${info.message}`;
    });
  }

  /** Wraps a device created elsewhere (e.g. by a browser page). */
  static fromDevice(device: GPUDevice, opts: GpuOptions = {}, adapterName = 'external device'): Gpu {
    return new Gpu(device, adapterName, opts);
  }

  /** Requests an adapter and a device with the adapter's real limits and the optional features it has. */
  static async fromAdapter(adapter: GPUAdapter, opts: GpuOptions = {}): Promise<Gpu> {
    const wanted: GPUFeatureName[] = ['shader-f16', 'timestamp-query', 'subgroups' as GPUFeatureName];
    const requiredFeatures = wanted.filter((f) => adapter.features.has(f));
    const l = adapter.limits;
    const device = await adapter.requestDevice({
      requiredFeatures,
      requiredLimits: {
        maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
        maxBufferSize: l.maxBufferSize,
        maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
        maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
        maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
        maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
      },
    });
    const info = adapter.info;
    const name = [info?.vendor, info?.architecture, info?.device, info?.description].filter((s) => s).join(' ') || 'unknown adapter';
    try {
      return new Gpu(device, name, opts);
    } catch (e) {
      device.destroy();
      throw e;
    }
  }

  /** In a browser (or any host with navigator.gpu): its adapter. In Node: Dawn through the `webgpu` package. */
  static async create(opts: GpuOptions = {}): Promise<Gpu> {
    const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
    if (nav?.gpu) {
      const adapter = await nav.gpu.requestAdapter({ powerPreference: 'high-performance' });
      if (!adapter) throw new Error('navigator.gpu.requestAdapter() returned no adapter: WebGPU is not available here');
      return Gpu.fromAdapter(adapter, opts);
    }
    const { requestAdapter } = await import('./node.js');
    return Gpu.fromAdapter(await requestAdapter(), opts);
  }

  // ---- tensors -------------------------------------------------------------------------------

  /** An uninitialised tensor from the pool. `exact`: no size-class slack (for long-lived tensors). */
  empty(shape: readonly number[], label = '', dtype: DType = 'f32', exact = false): Tensor {
    const bytes = dtypeBytes(shape.reduce((a, b) => a * b, 1), dtype);
    const block = this.withScope(`allocate ${label} [${shape}]`, () => this.pool.allocate(bytes, label, exact));
    return new Tensor(this, block, shape, dtype, label);
  }

  /** Uploads data (in the tensor's stored layout) to a new tensor (sized exactly: weights live long). */
  upload(data: Float32Array, shape: readonly number[], label = ''): Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    if (data.length !== n) throw new Error(`upload ${label}: ${data.length} values for shape [${shape}] (${n} expected)`);
    const t = this.empty(shape, label, 'f32', true);
    this.writeBuffer(t.buffer, t.offset, data);
    return t;
  }

  /** Uploads 32-bit words (f32 values, or packed f16/bf16 pairs) to a new exact-size tensor of `dtype`. */
  uploadWords(words: Uint32Array, shape: readonly number[], dtype: DType, label = ''): Tensor {
    const t = this.empty(shape, label, dtype, true);
    if (words.byteLength !== t.byteLength) throw new Error(`upload ${label}: ${words.byteLength} bytes for ${dtype} [${shape}] (${t.byteLength} expected)`);
    this.writeBuffer(t.buffer, t.offset, words);
    return t;
  }

  /**
   * A texture counted in the pool's statistics (so plans and `bench:memory` see it); `destroyTexture`
   * frees it. In a dry run it is created 1x1 and only its size is counted.
   */
  texture(desc: GPUTextureDescriptor & { size: [number, number, number] }, bytesPerTexel: number): GPUTexture {
    const [w, h, layers] = desc.size;
    const bytes = w * h * layers * bytesPerTexel;
    const t = this.withScope(`allocate texture ${desc.label ?? ''} [${desc.size}]`, () =>
      this.device.createTexture(this.dryRun ? { ...desc, size: [1, 1, layers] } : desc),
    );
    this.pool.trackTexture(bytes);
    this.textureBytes.set(t, bytes);
    return t;
  }

  /** Frees a texture made by `texture`, after submitting the recorded work that may still read it. */
  destroyTexture(t: GPUTexture): void {
    const bytes = this.textureBytes.get(t);
    if (bytes === undefined) throw new Error(`destroyTexture: ${t.label} was not made by Gpu.texture`);
    this.flush();
    t.destroy();
    this.pool.untrackTexture(bytes);
    this.textureBytes.delete(t);
  }

  /** queue.writeBuffer, copying SharedArrayBuffer-backed data first (Dawn crashes on those). */
  writeBuffer(buffer: GPUBuffer, byteOffset: number, data: Float32Array | Uint32Array | Int32Array): void {
    if (this.dryRun) return;
    let src = data;
    if (!(data.buffer instanceof ArrayBuffer)) src = data.slice();
    // Pending dispatches that read this buffer must run before the write lands.
    this.flush();
    this.device.queue.writeBuffer(buffer, byteOffset, src.buffer, src.byteOffset, src.byteLength);
  }

  async readBuffer(buffer: GPUBuffer, byteLength: number, byteOffset = 0): Promise<Float32Array> {
    if (this.dryRun) return new Float32Array(byteLength / 4);
    const staging = this.device.createBuffer({ size: byteLength, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.commandEncoder().copyBufferToBuffer(buffer, byteOffset, staging, 0, byteLength);
    await this.sync();
    await waitPolitely(this.pollIntervalMs, () => staging.mapAsync(GPUMapMode.READ));
    const out = new Float32Array(staging.getMappedRange().slice(0));
    staging.unmap();
    staging.destroy();
    return out;
  }

  // ---- pipelines and dispatch ----------------------------------------------------------------

  /**
   * A compute pipeline for `code`, one per key. What it returns is a handle: the WGSL is compiled at the
   * first dispatch that uses it, in the variant that dispatch needs (`compiled`), so a kernel that only
   * ever runs with read-write bindings (the arena's) is compiled once, not twice.
   */
  pipeline(key: string, code: () => string): GPUComputePipeline {
    if (this.alwaysDry) return {} as GPUComputePipeline; // never used: ops record nothing in a dry run
    let h = this.pipelines.get(key);
    if (!h) {
      const src = code();
      h = { key, src, readOnly: readOnlyBindings(src), compiled: new Map(), compiling: new Map() };
      this.pipelines.set(key, h);
    }
    return h as unknown as GPUComputePipeline;
  }

  private createPipeline(key: string, src: string): GPUComputePipeline {
    this.onShader?.(key, src);
    return this.withScope(`create pipeline ${key}`, () => {
      const module = this.device.createShaderModule({ code: src, label: key });
      return this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: key });
    });
  }

  /**
   * The compiled pipeline a dispatch runs: as written, or, where read-only bindings share a buffer with
   * a written one, with those bindings declared read-write. WebGPU validates usage per buffer, not per
   * range: a buffer bound read-only and read-write in one dispatch is an error even when the ranges are
   * apart, while read-write bindings may share a buffer if they do not overlap. In the arena an op's
   * inputs and its output are often ranges of one bin; elsewhere they are separate buffers and the
   * kernel runs as written. The kernel still only reads those bindings.
   */
  private compiled(p: GPUComputePipeline, buffers: readonly unknown[]): GPUComputePipeline {
    const h = p as unknown as PipelineHandle;
    if (!(h.compiled instanceof Map)) return p; // a pipeline made elsewhere
    const v = variantOf(h, buffers);
    let q = h.compiled.get(v.name);
    if (!q) {
      q = this.createPipeline(v.label, v.src);
      h.compiled.set(v.name, q);
    }
    return q;
  }

  /**
   * `compiled`'s variant made with createComputePipelineAsync: Dawn compiles it on a worker thread
   * while this one goes on (`prepare`). A dispatch that needs it sooner compiles it itself.
   */
  private compileAsync(p: GPUComputePipeline, buffers: readonly unknown[]): Promise<void> {
    const h = p as unknown as PipelineHandle;
    if (!(h.compiled instanceof Map)) return Promise.resolve();
    const v = variantOf(h, buffers);
    if (h.compiled.has(v.name)) return Promise.resolve();
    let pending = h.compiling.get(v.name);
    if (!pending) {
      this.onShader?.(v.label, v.src);
      const module = this.device.createShaderModule({ code: v.src, label: v.label });
      pending = this.device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: v.label }).then(
        (q) => {
          h.compiling.delete(v.name);
          if (!h.compiled.has(v.name)) h.compiled.set(v.name, q); // else a dispatch compiled it meanwhile (and may have bound it)
        },
        (e: Error) => {
          h.compiling.delete(v.name);
          throw new Error(`create pipeline ${v.label}: ${e.message}`);
        },
      );
      h.compiling.set(v.name, pending);
    }
    return pending;
  }

  /**
   * Records one op: a labelled compute pass in the shared encoder. `record` issues its dispatches with
   * `dispatch`. Errors raised while recording are reported with `label` at the next flush/read.
   */
  op(label: string, record: (pass: GPUComputePassEncoder) => void, info: { flops?: number } = {}): void {
    this.checkLost();
    if (!this.planning) this.opLog?.push({ label, flops: info.flops ?? 0 }); // a plan on this device records nothing (a dry-run Gpu logs its plan)
    // A plan on this device walks the op's dispatches for their pipelines (ahead.ts); nothing is recorded.
    if (this.planning) return record(PLAN_PASS);
    if (this.dryRun) return;
    const timestampWrites = this.profiler.enabled ? this.profiler.begin(label, this) : undefined;
    this.withScope(label, () => {
      const pass = this.commandEncoder().beginComputePass({ label, timestampWrites });
      try {
        record(pass);
      } finally {
        pass.end(); // keep the encoder usable when recording throws (e.g. a bad shape)
      }
    });
  }

  /**
   * Records a buffer-to-texture copy after the ops recorded so far (nothing in a dry run or plan).
   * Copies carry no timestamps: a profile's op times leave them out.
   */
  copyToTexture(label: string, src: GPUTexelCopyBufferInfo, dst: GPUTexelCopyTextureInfo, size: [number, number, number]): void {
    this.checkLost();
    if (this.dryRun) return;
    this.withScope(label, () => this.commandEncoder().copyBufferToTexture(src, dst, size));
  }

  /**
   * One dispatch: binding 0 is the params uniform (32-bit words), bindings 1.. are the storage ranges.
   * `groups` may exceed 65,535: it is folded into a 2D grid and kernels rebuild the linear index with
   * `wid.x + wid.y * nwg.x` (see `linearWorkgroup` in wgsl.ts).
   */
  dispatch(pass: GPUComputePassEncoder, p: GPUComputePipeline, params: Uint32Array, buffers: GPUBufferBinding[], groups: number | [number, number, number]): void {
    if (this.planning) return this.aheadPlan?.noteDispatch(p, buffers.map((b) => b.buffer));
    const pipeline = this.compiled(p, buffers.map((b) => b.buffer));
    const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: this.uniform(params) }];
    buffers.forEach((resource, i) => entries.push({ binding: i + 1, resource }));
    const bindGroup = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    const [x, y, z] = typeof groups === 'number' ? grid2d(groups) : groups;
    if (x > 0 && y > 0 && z > 0) pass.dispatchWorkgroups(x, y, z);
  }

  /**
   * Binds elements [start, end) of a tensor, with the offset aligned down as WebGPU requires. Elements
   * are of the tensor's dtype (4 bytes for f32, 2 for f16: the size is rounded up to whole words).
   */
  bind(t: Tensor, start = 0, end = t.size): BoundRange {
    t.assertLive();
    const eb = elementBytes(t.dtype);
    const alignElems = this.storageAlign / eb;
    const base = Math.floor(start / alignElems) * alignElems;
    const size = Math.max(4, Math.ceil(((end - base) * eb) / 4) * 4);
    if (size > this.maxBindingBytes)
      throw new Error(`binding of ${t} elements [${start}, ${end}) is ${size} bytes, above the ${this.maxBindingBytes}-byte binding limit (internal banding error)`);
    return { binding: { buffer: t.buffer, offset: t.offset + base * eb, size }, base };
  }

  /**
   * Binds a whole parameter tensor (weights, bias, norm statistics). Parameters are small (the largest
   * conv weight in these models is 59 MB), so they are checked against the adapter's real binding
   * limit, not the planning limit that activations are banded by.
   */
  bindWhole(t: Tensor): GPUBufferBinding {
    t.assertLive();
    const size = Math.max(4, t.byteLength);
    if (size > this.device.limits.maxStorageBufferBindingSize)
      throw new Error(`parameter ${t} is ${size} bytes, above the adapter's maxStorageBufferBindingSize ${this.device.limits.maxStorageBufferBindingSize}`);
    return { buffer: t.buffer, offset: t.offset, size };
  }

  /**
   * A small buffer of its own for a binding a dispatch must fill but does not read (e.g. the unused
   * second half of a split input): binding the same tensor again would alias it.
   */
  spareBinding(): GPUBufferBinding {
    this.spare ??= this.device.createBuffer({ size: 256, usage: GPUBufferUsage.STORAGE, label: 'spare binding' });
    return { buffer: this.spare, offset: 0, size: 256 };
  }
  private spare: GPUBuffer | undefined;

  // ---- submission ------------------------------------------------------------------------------

  /** Submits recorded work (no wait). */
  flush(): void {
    if (!this.encoder) return;
    this.writeChunk();
    this.profiler.resolve(this.encoder);
    this.device.queue.submit([this.encoder.finish()]);
    this.encoder = null;
    this.uniformChunk = 0;
    this.uniformOffset = 0;
  }

  /** Submits and waits for the GPU; throws the first error an op raised, named by its op label. */
  async sync(): Promise<void> {
    this.flush();
    // Every await on the device here polls it without a busy loop in Node (poll.ts).
    await waitPolitely(this.pollIntervalMs, async () => {
      await this.device.queue.onSubmittedWorkDone();
      await this.profiler.collect();
      const scopes = this.scopes;
      this.scopes = [];
      for (const s of scopes) {
        const err = await s.promise;
        if (!err) continue;
        if (err.constructor?.name === 'GPUOutOfMemoryError' || /out of memory/i.test(err.message)) throw new GpuOutOfMemoryError(s.label, err.message, this.pool.getStats().peakAllocatedBytes);
        throw new Error(`GPU error in ${s.label}: ${err.message}`);
      }
    });
    this.checkLost();
  }

  /**
   * Plans `run` on this device without running it: every op is planned as in a real run (shapes,
   * bands, pooled buffers, textures) but nothing is recorded, uploaded or allocated for real. Returns
   * the peak GPU bytes the run would hold, counting what is allocated now (weights, cached U, idle
   * pool buffers it may reuse). Model state (cached Winograd U, weights) is left as it was.
   */
  plan(run: () => void): { peakBytes: number; allocatedBefore: number } {
    if (this.dryRun) throw new Error('Gpu.plan: already planning (or a dry-run Gpu)');
    this.flush();
    const before = this.pool.beginPlan();
    this.planning = true;
    try {
      run();
    } finally {
      this.planning = false;
      this.planEnd.forEach((f) => f());
      this.planEnd = [];
    }
    return { peakBytes: this.pool.endPlan(), allocatedBefore: before };
  }

  /**
   * Runs `run` (a model's encode or decode) with its activations at planned offsets in the arena
   * (pool.ts, arena.ts), so the pool holds the run's live peak rather than a buffer per size class.
   * The first run with a `key` is planned (Gpu.plan: the same run, nothing computed) and its layout
   * kept for `owner`; later runs with that key reuse it. `release` frees what `run` returns (the
   * plan's outputs). A run that consumes (releases) an input must make a stand-in for it when called
   * with standIn = true: the plan runs before the real run. A run that leaves its plan (the key missed something the run depends on) takes
   * its later activations from the pool and is planned afresh next time. Inside a plan, or a dry-run
   * Gpu, the run is recorded and counted with its arena; nested planned runs just run.
   */
  planned<T>(owner: object, key: string, run: (standIn: boolean) => T, release: (out: T) => void): T {
    if (!this.useArena || this.pool.inArenaRun) return run(false);
    if (this.dryRun) return this.recordLayout(owner, key, () => run(false));
    let layout = this.layoutsOf(owner).get(key);
    if (!layout) {
      const first = this.planFirst(owner, key, run, release);
      layout = first.layout;
      for (const [pipeline, buffers] of this.aheadDispatches(first.ahead, layout)) this.compiled(pipeline, buffers);
      this.prepared.set(layout, first.ahead);
    }
    // The first real run of a plan (made just now, or by `prepare`) does its one-time allocations first.
    const ahead = this.prepared.get(layout);
    this.prepared.delete(layout);
    if (ahead?.fits()) ahead.runActs();
    this.pool.beginReplay(layout);
    try {
      return run(false);
    } finally {
      if (!this.pool.endReplay()) this.layoutsOf(owner).delete(key);
    }
  }

  /**
   * Plans a `planned` run before its first call, e.g. while the weights it reads are still loading
   * (AutoencoderKL.prepareDecode; loadModel's `prepareDecode`): the plan, kept as `planned` keeps it,
   * and the run's pipelines, compiled with createComputePipelineAsync, so Dawn's worker threads
   * compile while the caller reads weights instead of inside the first run. The plan's one-time
   * allocations (ahead.ts: cached U are made from the weights) wait for the first real run. Resolves
   * when the pipelines are compiled. Does nothing in a dry run, without the arena, for a key already
   * planned, or when the run would exceed memoryBudget (the real run then refuses it).
   */
  async prepare<T>(owner: object, key: string, run: (standIn: boolean) => T, release: (out: T) => void): Promise<void> {
    if (this.alwaysDry || !this.useArena || this.pool.inArenaRun || this.planning || this.layoutsOf(owner).has(key)) return;
    const { layout, ahead, peakBytes } = this.planFirst(owner, key, run, release);
    if (this.memoryBudget !== undefined && peakBytes > this.memoryBudget) {
      this.layoutsOf(owner).delete(key);
      return;
    }
    this.prepared.set(layout, ahead);
    await Promise.all(this.aheadDispatches(ahead, layout).map(([pipeline, buffers]) => this.compileAsync(pipeline, buffers)));
  }

  private layoutsOf(owner: object): Map<string, ArenaLayout> {
    let layouts = this.layouts.get(owner);
    if (!layouts) this.layouts.set(owner, (layouts = new Map()));
    return layouts;
  }

  /** Records `run`'s allocations as `owner`'s layout for `key` (the most recent last: a small LRU). */
  private recordLayout<T>(owner: object, key: string, run: () => T, ended?: () => void): T {
    const layouts = this.layoutsOf(owner);
    this.pool.beginRecord();
    try {
      return run();
    } finally {
      ended?.();
      layouts.delete(key);
      this.lastLayout = this.pool.endRecord();
      layouts.set(key, this.lastLayout);
      if (layouts.size > 8) layouts.delete(layouts.keys().next().value!);
    }
  }

  /**
   * The plan of a planned run's first call (Gpu.plan), on stand-in inputs where the run consumes its
   * own (standIn = true): its layout, kept for `owner` and `key`, and what its first real run can do
   * before its first op (ahead.ts).
   */
  private planFirst<T>(owner: object, key: string, run: (standIn: boolean) => T, release: (out: T) => void): { layout: ArenaLayout; ahead: PlanAhead; peakBytes: number } {
    const ahead = new PlanAhead();
    this.aheadPlan = ahead;
    try {
      const { peakBytes } = this.plan(() => release(this.recordLayout(owner, key, () => run(true), () => ahead.close(this.pool.takeSegmentPeak()))));
      return { layout: this.layoutsOf(owner).get(key)!, ahead, peakBytes };
    } finally {
      this.aheadPlan = undefined;
    }
  }

  /**
   * Inside a plan: the real run will make a one-time allocation here (a shared texture grown, a cached
   * U) that adds `bytes` (made minus freed) from here on; `act` makes it for real. The first real run
   * of the plan does every such act before its first op, unless that could raise its peak (ahead.ts).
   */
  ahead(bytes: number, act: AheadAct): void {
    if (!this.planning) throw new Error('Gpu.ahead outside a plan');
    this.aheadPlan?.noteEvent(this.pool.takeSegmentPeak(), bytes, act);
  }

  /**
   * The pipelines a plan's dispatches need, each with its bindings resolved to the arena bin the
   * layout put them in: the variant depends on which bindings share a buffer (`compiled`).
   */
  private aheadDispatches(ahead: PlanAhead, layout: ArenaLayout): [GPUComputePipeline, unknown[]][] {
    const realBuffer = (b: GPUBuffer | undefined): unknown => {
      if (!b) return undefined;
      const id = this.pool.plannedActivationId(b);
      if (id === undefined) return b;
      const bin = layout.bin[id];
      return bin >= 0 ? `arena bin ${bin}` : `output ${id}`; // outputs: each its own pooled buffer
    };
    return ahead.dispatches.map(({ pipeline, buffers }) => [pipeline, buffers.map(realBuffer)]);
  }

  /** Called at the end of the current plan (planned textures to drop). */
  onPlanEnd(f: () => void): void {
    this.planEnd.push(f);
  }

  /**
   * Throws MemoryBudgetError when `run` (planned first) would need more than `memoryBudget`; runs
   * nothing otherwise. `what` names the run, `advice` says what to change.
   */
  checkBudget(what: string, advice: string, run: () => void): void {
    if (this.memoryBudget === undefined) return;
    const { peakBytes } = this.plan(run);
    if (peakBytes > this.memoryBudget) throw new MemoryBudgetError(what, peakBytes, this.memoryBudget, advice);
  }

  /** Per-op GPU times of everything recorded since profiling was enabled (needs timestamp-query). */
  timings(): OpTiming[] {
    return this.profiler.results();
  }

  destroy(): void {
    this.pool.destroyAll();
    for (const b of this.uniformChunks) b.destroy();
    this.uniformChunks = [];
    this.spare?.destroy();
    this.profiler.destroy();
    this.device.destroy();
  }

  // ---- internals -------------------------------------------------------------------------------

  commandEncoder(): GPUCommandEncoder {
    this.encoder ??= this.device.createCommandEncoder();
    return this.encoder;
  }

  private withScope<T>(label: string, fn: () => T): T {
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    try {
      return fn();
    } finally {
      this.scopes.push({ label, promise: this.device.popErrorScope() });
      this.scopes.push({ label, promise: this.device.popErrorScope() });
    }
  }

  private checkLost(): void {
    if (this.deviceLost) throw new Error(`GPU device lost (${this.deviceLost}); create a new Gpu`);
  }

  /** A slot in the uniform arena. The CPU copy is written with queue.writeBuffer at flush time. */
  private uniform(params: Uint32Array): GPUBufferBinding {
    const size = Math.max(16, Math.ceil(params.byteLength / 16) * 16);
    if (this.uniformOffset + size > UNIFORM_CHUNK) {
      this.writeChunk();
      this.uniformChunk++;
      this.uniformOffset = 0;
    }
    if (this.uniformChunk === this.uniformChunks.length)
      this.uniformChunks.push(this.device.createBuffer({ size: UNIFORM_CHUNK, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, label: 'uniforms' }));
    this.uniformCpu.set(new Uint8Array(params.buffer, params.byteOffset, params.byteLength), this.uniformOffset);
    const binding = { buffer: this.uniformChunks[this.uniformChunk], offset: this.uniformOffset, size };
    this.uniformOffset += Math.ceil(size / this.uniformAlign) * this.uniformAlign;
    return binding;
  }

  private writeChunk(): void {
    if (this.uniformOffset === 0) return;
    // queue.writeBuffer is ordered before the submit that follows, and after earlier submits, so a
    // chunk can be rewritten for every command buffer.
    this.device.queue.writeBuffer(this.uniformChunks[this.uniformChunk], 0, this.uniformCpu.buffer, 0, this.uniformOffset);
  }
}

/** What Gpu.pipeline returns: a kernel's WGSL, its read-only bindings, and its compiled variants by promoted bindings. */
interface PipelineHandle {
  key: string;
  src: string;
  readOnly: Set<number>;
  compiled: Map<string, GPUComputePipeline>;
  /** Variants being compiled asynchronously (compileAsync). */
  compiling: Map<string, Promise<void>>;
}

/**
 * Which variant of a kernel a dispatch needs (Gpu.compiled): `buffers` holds the buffer of each
 * storage binding (undefined for a texture), or what stands for it; a read-only binding whose buffer
 * a written binding also uses is declared read-write.
 */
function variantOf(h: PipelineHandle, buffers: readonly unknown[]): { name: string; label: string; src: string } {
  const written = new Set<unknown>();
  buffers.forEach((b, i) => {
    if (b && !h.readOnly.has(i + 1)) written.add(b);
  });
  const promote = buffers.flatMap((b, i) => (b && written.has(b) && h.readOnly.has(i + 1) ? [i + 1] : []));
  const name = promote.join(',');
  const src = promote.reduce((code, i) => code.replace(new RegExp(`(@binding\\(${i}\\)\\s*var<storage,\\s*)read>`), '$1read_write>'), h.src);
  return { name, label: name ? `${h.key} (read-write ${name})` : h.key, src };
}

/** The binding numbers a WGSL module declares `var<storage, read>`. */
export function readOnlyBindings(code: string): Set<number> {
  return new Set([...code.matchAll(/@binding\((\d+)\)\s*var<storage,\s*read>/g)].map((m) => Number(m[1])));
}

/** Folds a linear workgroup count into a 2D grid within the 65,535-per-dimension limit. */
export function grid2d(groups: number): [number, number, number] {
  if (groups <= 65535) return [groups, 1, 1];
  const y = Math.ceil(groups / 65535);
  return [Math.ceil(groups / y), y, 1];
}

const MiB = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;

/** A run that its plan says would not fit `memoryBudget`: nothing was run. */
export class MemoryBudgetError extends Error {
  constructor(readonly what: string, readonly neededBytes: number, readonly budgetBytes: number, advice: string) {
    super(`${what} needs ${MiB(neededBytes)} of GPU memory (planned: weights, activations and scratch), above the memory budget of ${MiB(budgetBytes)}. ${advice}`);
    this.name = 'MemoryBudgetError';
  }
}

/** The device ran out of memory in an op: reported with what this Gpu held. */
export class GpuOutOfMemoryError extends Error {
  constructor(readonly label: string, message: string, readonly heldBytes: number) {
    super(`out of GPU memory in ${label} (${message}); this run held up to ${MiB(heldBytes)}. Plan it first with a memory budget (--memory-budget / memoryBudget) to see what it needs; store activations or weights as f16, or decode in tiles, to need less.`);
    this.name = 'GpuOutOfMemoryError';
  }
}
