// torch.onnx's TorchScript exporter (which Optimum uses) constant-folds each Linear's weight transpose into a new
// initializer with a generated name (`onnx::MatMul_1234`), so the parameter's name is lost; the MatMul node keeps
// the module's scope in its own name (`/model/layers.0/self_attn/q_proj/MatMul`). Initializers consumed unchanged
// (embeddings, norms, biases) keep their names.
import type { GraphIndex } from './graphIndex';

const SCOPED_PRODUCT = /^\/(.+)\/(MatMul|Gemm)(_\d+)?$/;

/**
 * Hugging Face weight name → the initializer a scoped MatMul/Gemm node multiplies by, for weights stored under a
 * generated name (`/model/layers.0/self_attn/q_proj/MatMul` with `onnx::MatMul_7` gives
 * `model.layers.0.self_attn.q_proj.weight` → `onnx::MatMul_7`).
 */
export function weightsByScope(index: GraphIndex): Map<string, string> {
  const byScope = new Map<string, string>();
  for (const node of index.graph.node ?? []) {
    const m = SCOPED_PRODUCT.exec(node.name ?? '');
    const operand = node.input?.[1];
    if (!m || !operand || !index.initializers.has(operand)) continue;
    const weight = `${m[1].replace(/\//g, '.')}.weight`;
    if (!index.initializers.has(weight)) byScope.set(weight, operand);
  }
  return byScope;
}
