// Phi-3's graph as its Optimum export has it: one `qkv_proj` MatMul whose output is cut into q, k and v by Slice
// (transformers indexes `qkv[..., :q]`), and one `gate_up_proj` MatMul cut in two by Split (`chunk(2, dim=-1)`).
// Made from a graph of our builder by replacing each layer's separate q/k/v and gate/up MatMuls, so the file holds
// only the fused weights and our reader has to split them.
import type { onnx } from '../../src/onnx/proto';
import { DataType } from '../../src/onnx/proto';
import type { TensorSpec } from '../../src/onnx/writeModel';
import type { Decoder, Weight } from '../../src/model/decoder';
import { fusedName, linearName, type LinearRole } from '../../src/model/names';

/** `[in, a] ⧺ [in, b] ⧺ …` along the outputs. */
function concatColumns(ws: Weight[]): Float32Array {
  const rows = ws[0].shape[0];
  const width = ws.reduce((n, w) => n + w.shape[1], 0);
  const out = new Float32Array(rows * width);
  let at = 0;
  for (const w of ws) {
    const v = w.read();
    const n = w.shape[1];
    for (let r = 0; r < rows; r++) out.set(v.subarray(r * n, (r + 1) * n), r * width + at);
    at += n;
  }
  return out;
}

const ints = (name: string, values: number[]): TensorSpec => ({
  name,
  dims: [values.length],
  dataType: DataType.INT64,
  values: BigInt64Array.from(values.map(BigInt)),
});

/** Replaces the MatMuls by `roles`' weights (all reading the same input) with one fused MatMul and its cuts. */
function fuse(
  model: onnx.IModelProto,
  tensors: TensorSpec[],
  d: Decoder,
  i: number,
  fused: 'qkv' | 'gateUp',
  roles: LinearRole[],
): TensorSpec[] {
  const nodes = model.graph!.node!;
  const matmuls = roles.map((r) => nodes.find((n) => n.opType === 'MatMul' && n.input?.[1] === linearName(i, r))!);
  const weights = roles.map((r) => d.layerWeights[i][r]);
  const name = fusedName(i, fused);
  const out = `${name}_out`;
  const widths = weights.map((w) => w.shape[1]);
  const fusedTensor: TensorSpec = {
    name,
    dims: [weights[0].shape[0], widths.reduce((a, b) => a + b)],
    dataType: DataType.FLOAT,
    values: concatColumns(weights),
  };
  const cuts: onnx.INodeProto[] = [];
  const extra: TensorSpec[] = [];
  if (fused === 'gateUp') {
    extra.push(ints(`l${i}_${fused}_split`, widths));
    cuts.push({
      opType: 'Split',
      input: [out, `l${i}_${fused}_split`],
      output: matmuls.map((m) => m.output![0]),
      attribute: [{ name: 'axis', type: 2, i: -1 }],
      name: `${name}_chunk`,
    });
  } else {
    let start = 0;
    matmuls.forEach((m, j) => {
      extra.push(ints(`l${i}_${fused}_start${j}`, [start]), ints(`l${i}_${fused}_end${j}`, [start + widths[j]]));
      cuts.push({
        opType: 'Slice',
        input: [out, `l${i}_${fused}_start${j}`, `l${i}_${fused}_end${j}`, 'fused_axis_last'],
        output: [m.output![0]],
        name: `${name}_slice${j}`,
      });
      start += widths[j];
    });
  }
  const first = Math.min(...matmuls.map((m) => nodes.indexOf(m)));
  for (const m of matmuls) nodes.splice(nodes.indexOf(m), 1);
  nodes.splice(
    first,
    0,
    { opType: 'MatMul', input: [matmuls[0].input![0], name], output: [out], name: `${name}_matmul` },
    ...cuts,
  );
  const dropped = new Set(roles.map((r) => linearName(i, r)));
  return [...tensors.filter((t) => !dropped.has(t.name)), fusedTensor, ...extra];
}

/** The graph with every layer's q/k/v and gate/up fused as Phi-3 stores them. */
export function fusePhi3(model: onnx.IModelProto, tensors: TensorSpec[], d: Decoder): TensorSpec[] {
  let out = [...tensors, ints('fused_axis_last', [-1])];
  for (let i = 0; i < d.layers.length; i++) {
    out = fuse(model, out, d, i, 'qkv', ['q', 'k', 'v']);
    out = fuse(model, out, d, i, 'gateUp', ['gate', 'up']);
  }
  return out;
}
