// SparseGPT's lazy batch updates as they ran before `Linalg.residentRows` (src/linalg/graphs.ts): every later row on
// the host, each block's update a product that comes back whole and is subtracted in JS. Kept so that bench linalg
// and bench/gpu.sh time the kernel both ways side by side, on the CPU and on a GPU.
import type { Linalg, ResidentRows } from '../../src/linalg/graphs';

/** `la`, with the rows SparseGPT holds kept on the host. */
export function withHostRows(la: Linalg): Linalg {
  return {
    ...la,
    residentRows(w, rows, m): ResidentRows {
      let held = w;
      let left = rows;
      return {
        get rows() {
          return left;
        },
        async updateAndTake(a, e, b, k) {
          const delta = await la.matmul(a, e, left, b, m);
          for (let i = 0; i < delta.length; i++) held[i] -= delta[i];
          const taken = held.slice(0, k * m);
          held = held.subarray(k * m);
          left -= k;
          return taken;
        },
        release() {},
      };
    },
  };
}
