import * as fs from 'node:fs';
import * as ort from 'onnxruntime-node';
import { UserError } from '../util/errors';
import { DataType } from '../onnx/proto';
import { GraphBuilder } from '../graph/graph';
import { halfProduct } from '../graph/linear';
import { modelToBuffer } from '../onnx/writeModel';
import { toHalfBytes } from '../onnx/tensorData';

export const PROVIDERS = ['auto', 'cpu', 'webgpu', 'cuda', 'dml', 'coreml'] as const;
export type ProviderChoice = (typeof PROVIDERS)[number];

export interface SessionOptions {
  provider?: ProviderChoice;
  threads?: number;
  /**
   * The arithmetic of products with fp16 weights in graphs we build: `float32` (the default: each weight widened
   * in-graph), `float16`, or `fastest`: fp16 where the provider multiplies fp16 itself (runtime/halfArithmetic.ts),
   * fp32 elsewhere. Only the search's fitness asks for `fastest`; statistics and reported perplexities stay fp32.
   */
  compute?: 'float32' | 'float16' | 'fastest';
  /** The job's cancel: loops over layers, windows, runs and decode steps check it between ONNX Runtime calls. */
  signal?: AbortSignal;
}

/** How the engine opens a model: a file, or a graph we build given as a buffer. */
export interface GraphSessionOptions extends SessionOptions {
  /** The folder the buffer's external-data locations are relative to (the source model's folder). */
  externalDataDir?: string;
  /**
   * The graph widens fp16 (bf16) weights with Cast nodes: ONNX Runtime's constant folding would replace each weight
   * by an fp32 copy at load and double its memory, so it is turned off for such graphs (and the optimisation level
   * kept at `extended`).
   */
  keepsNarrowWeights?: boolean;
  /**
   * Free each intermediate tensor when done with it instead of keeping ONNX Runtime's CPU arena: for graphs run on
   * matrices of changing sizes (linear algebra, one decoder layer at a time), where an arena only ever grows.
   */
  noArena?: boolean;
  /**
   * Outputs left on the device when the session runs on WebGPU (GPU buffers, which later runs take as inputs
   * without a copy through the host); on other providers they come to the host like every output.
   */
  deviceOutputs?: string[];
  /** What a model given as a buffer was built from, for errors (a path names itself). */
  describe?: string;
  /**
   * The model holds fp16 tensors: a provider whose fp16 kernels fail at the first run (WebGPU on an adapter
   * without fp16 shaders) is not used for it (`halfRefusal`).
   */
  halfTensors?: boolean;
}

/**
 * A try whose failure the caller handles (the fp16 probes): no logs; `wholly`: every node on the requested
 * provider (no CPU fallback inside the session).
 */
type OpenOptions = GraphSessionOptions & { probe?: { wholly: boolean } };

export interface Session {
  session: ort.InferenceSession;
  /** The execution provider that actually runs the model. */
  provider: string;
  /** Providers tried before it and why they failed (for `auto`). */
  fallbacks: string[];
}

/** The accelerators `auto` tries on this platform, in order, before the CPU. */
function autoOrder(): Exclude<ProviderChoice, 'auto'>[] {
  switch (process.platform) {
    case 'win32':
      return ['cuda', 'dml', 'webgpu'];
    case 'darwin':
      return ['coreml', 'webgpu'];
    default:
      return ['cuda', 'webgpu'];
  }
}

/**
 * Why a provider cannot run here, known without trying it (trying a GPU provider on a machine without one makes
 * its native libraries print warnings of their own), or undefined when it is worth a try.
 */
function unavailable(provider: string): string | undefined {
  const backend = ort.listSupportedBackends().find((b) => b.name === provider);
  if (provider !== 'cpu' && backend && !backend.bundled)
    return 'not installed with onnxruntime-node (its installer downloads it where the network allows)';
  if (
    provider === 'webgpu' &&
    process.platform === 'linux' &&
    !fs.existsSync('/dev/dri') &&
    !fs.existsSync('/dev/nvidia0')
  )
    return 'no GPU device on this machine';
  return undefined;
}

/** The provider a choice will most likely run on: `auto`'s first accelerator not known to be missing, or the CPU. */
export function likelyProvider(choice: ProviderChoice = 'auto'): Exclude<ProviderChoice, 'auto'> {
  return choice === 'auto' ? (autoOrder().find((p) => !unavailable(p)) ?? 'cpu') : choice;
}

/**
 * ONNX Runtime's own log level for our sessions: errors only, none for a probe (its failure is expected), or what
 * SUBNET_SEARCH_ORT_LOG asks for (`verbose` lists which provider runs each node: README "Large models").
 */
function sessionLogLevel(o: OpenOptions): number {
  if (o.probe) return 4;
  const asked = ['verbose', 'info', 'warning', 'error', 'fatal'].indexOf(
    (process.env.SUBNET_SEARCH_ORT_LOG ?? '').toLowerCase(),
  );
  return asked >= 0 ? asked : 3;
}

function baseOptions(o: OpenOptions): ort.InferenceSession.SessionOptions {
  const extra: Record<string, Record<string, string>> = {};
  if (o.externalDataDir) extra.session = { model_external_initializers_file_folder_path: o.externalDataDir };
  if (o.probe?.wholly) extra.session = { ...extra.session, disable_cpu_ep_fallback: '1' };
  if (o.keepsNarrowWeights) extra.optimization = { disable_specified_optimizers: 'ConstantFolding' };
  return {
    // Level `all` folds the Casts even with ConstantFolding disabled (measured: an fp16 model then holds fp32 copies).
    graphOptimizationLevel: o.keepsNarrowWeights ? 'extended' : 'all',
    ...(o.threads && o.threads > 0 ? { intraOpNumThreads: o.threads, interOpNumThreads: 1 } : {}),
    logSeverityLevel: sessionLogLevel(o) as 0 | 1 | 2 | 3 | 4,
    ...(o.noArena ? { enableCpuMemArena: false, enableMemPattern: false } : {}),
    ...(Object.keys(extra).length ? { extra } : {}),
  };
}

/** ONNX Runtime's first line: the rest is often a stack of its own. */
const firstLine = (e: unknown) =>
  (e instanceof Error ? e.message : String(e)).split('\n')[0].slice(0, 1000).replace(/\.+$/, '');

/** One try on one provider; failed probes log errors of their own, expected here and reported by the caller. */
async function open(
  model: string | Uint8Array,
  o: OpenOptions,
  provider: string,
  quiet: boolean,
): Promise<ort.InferenceSession> {
  const previousLevel = ort.env.logLevel;
  try {
    if (quiet) ort.env.logLevel = 'fatal';
    const onDevice = provider === 'webgpu' ? (o.deviceOutputs ?? []) : [];
    const opts = {
      ...baseOptions(o),
      executionProviders: [provider],
      ...(onDevice.length
        ? { preferredOutputLocation: Object.fromEntries(onDevice.map((n) => [n, 'gpu-buffer' as const])) }
        : {}),
    };
    return typeof model === 'string'
      ? await ort.InferenceSession.create(model, opts)
      : await ort.InferenceSession.create(model, opts);
  } finally {
    ort.env.logLevel = previousLevel;
  }
}

/** The model ONNX Runtime refused: the file (or what the graph was built from) and its first line. */
function modelRefused(model: string | Uint8Array, o: GraphSessionOptions, why: string): UserError {
  const which = typeof model === 'string' ? model : `the graph built from ${o.describe ?? 'the model'}`;
  return new UserError(
    `ONNX Runtime refused to load ${which}: ${why}. The file may be cut short, or hold an operator or attribute this ONNX Runtime does not accept`,
  );
}

/**
 * A provider that failed on a model: the CPU provider is always there, so there the model is at fault; another
 * provider is unavailable only when the CPU provider loads the same model, otherwise the model is at fault too.
 */
async function explainFailure(
  model: string | Uint8Array,
  o: GraphSessionOptions,
  provider: string,
  why: string,
): Promise<UserError> {
  if (provider === 'cpu') return modelRefused(model, o, why);
  try {
    await (await open(model, o, 'cpu', true)).release();
  } catch (e) {
    return modelRefused(model, o, firstLine(e));
  }
  return new UserError(
    `execution provider '${provider}' is not available on this machine (${why}); use --provider auto or cpu`,
  );
}

/** Per provider and `wholly`, the fp16 probe's answer: why it failed, or undefined. */
const halfTried = new Map<string, Promise<string | undefined>>();

/**
 * Why `provider` does not run a tiny fp16 product (graph/linear.ts `halfProduct`), or undefined when it
 * does; `wholly`: with every node on it (no CPU fallback), the test for fp16 arithmetic (runtime/halfArithmetic.ts).
 * Tried once per process.
 */
export function halfRefusal(provider: Exclude<ProviderChoice, 'auto'>, wholly: boolean): Promise<string | undefined> {
  const key = `${provider}|${wholly}`;
  if (!halfTried.has(key)) halfTried.set(key, halfProductRefusal(provider, wholly));
  return halfTried.get(key)!;
}

async function halfProductRefusal(provider: ProviderChoice, wholly: boolean): Promise<string | undefined> {
  const g = new GraphBuilder();
  const w = g.initializer('w', [8, 8], () => toHalfBytes(new Float32Array(64).fill(0.5)), DataType.FLOAT16);
  g.output(halfProduct(g, w, g.input('x', DataType.FLOAT, [2, 8]), 'product'), 'y', DataType.FLOAT, [2, 8]);
  let s: ort.InferenceSession | undefined;
  try {
    const buffer = modelToBuffer(g.model('probe', 'fp16 product probe'), g.tensors);
    s = await open(buffer, { provider, probe: { wholly } }, provider, true);
    const y = (await s.run({ x: new ort.Tensor('float32', new Float32Array(16).fill(1), [2, 8]) })).y;
    return (y.data as Float32Array).every((v) => v === 4) ? undefined : 'a tiny fp16 product gave wrong numbers';
  } catch (e) {
    return firstLine(e);
  } finally {
    await s?.release();
  }
}

/** Opens a session on the requested provider; `auto` falls back provider by provider down to the CPU. */
export async function createSession(model: string | Uint8Array, o: GraphSessionOptions = {}): Promise<Session> {
  const choice = o.provider ?? 'auto';
  if (!PROVIDERS.includes(choice))
    throw new UserError(`unknown execution provider '${choice}'; choose one of ${PROVIDERS.join(', ')}`);
  const candidates: Exclude<ProviderChoice, 'auto'>[] = choice === 'auto' ? [...autoOrder(), 'cpu'] : [choice];
  const fallbacks: string[] = [];
  for (const provider of candidates) {
    const skip = choice === 'auto' ? unavailable(provider) : undefined;
    if (skip) {
      fallbacks.push(`${provider}: ${skip}`);
      continue;
    }
    // The fp16 question is asked after the model opened there (so that a missing device is told as such), unless
    // it is already answered. An explicit provider that cannot is an error; `auto` goes on to the next.
    const halfKey = `${provider}|false`;
    const asksHalf = o.halfTensors && provider !== 'cpu';
    const passOver = (why: string) => {
      const what = `the ${provider} device here cannot run the model's fp16 tensors (${why})`;
      if (choice !== 'auto') throw new UserError(`${what}; use --provider auto or cpu`);
      fallbacks.push(`${provider}: ${what}`);
    };
    const known = asksHalf && halfTried.has(halfKey) ? await halfTried.get(halfKey) : undefined;
    if (known) {
      passOver(known);
      continue;
    }
    let session: ort.InferenceSession;
    try {
      session = await open(model, o, provider, choice === 'auto' && provider !== 'cpu');
    } catch (e) {
      if (choice !== 'auto') throw await explainFailure(model, o, provider, firstLine(e));
      // `auto` ends with the CPU: when it too refuses, the model is at fault, whatever the accelerators said.
      if (provider === 'cpu') throw modelRefused(model, o, firstLine(e));
      fallbacks.push(`${provider}: ${firstLine(e)}`);
      continue;
    }
    const why = asksHalf ? await halfRefusal(provider, false) : undefined;
    if (why) {
      await session.release();
      passOver(why);
      continue;
    }
    return { session, provider, fallbacks };
  }
  throw new UserError(`no execution provider could open the model: ${fallbacks.join('; ')}`);
}

export { ort };
