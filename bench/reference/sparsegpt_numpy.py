"""SparseGPT as the reference implementation (IST-DASLab) does it, written here in NumPy float32 for side-by-side
runs where PyTorch is not installed: H = 2/n Σ xxᵀ, dead inputs zeroed, 1 % damping, U = chol(H⁻¹) upper, blocks
of 128 inputs, the mask chosen at each block's start with one threshold over the block (every score ≤ the
⌊numel · sparsity⌋-th smallest), OBS updates column by column inside the block and one product for the rest.

Usage: sparsegpt_numpy.py W.f32 GRAM.f64 COUNT ROWS COLS SPARSITY OUT.f32
W is [ROWS = outputs, COLS = inputs] float32, GRAM the [COLS, COLS] float64 Σ xxᵀ; prints the kernel's seconds.
"""
import sys
import time

import numpy as np


def prune(w, h, sparsity, blocksize=128, percdamp=0.01):
    w = w.copy()
    cols = w.shape[1]
    dead = np.diag(h) == 0
    h[dead, dead] = 1
    w[:, dead] = 0
    h[np.arange(cols), np.arange(cols)] += percdamp * np.mean(np.diag(h))
    hinv = np.linalg.inv(np.linalg.cholesky(h))
    hinv = hinv.T @ hinv  # H⁻¹ from its lower factor
    u = np.linalg.cholesky(hinv).T.astype(np.float32)  # upper: H⁻¹ = UᵀU
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        w1 = w[:, i1:i2].copy()
        err = np.zeros_like(w1)
        u1 = u[i1:i2, i1:i2]
        score = w1 ** 2 / np.diag(u1)[None, :] ** 2
        mask = score <= np.sort(score.ravel())[int(score.size * sparsity)]
        for i in range(i2 - i1):
            col = w1[:, i]
            q = np.where(mask[:, i], 0, col)
            e = (col - q) / u1[i, i]
            w1[:, i:] -= np.outer(e, u1[i, i:])
            w1[:, i] = q
            err[:, i] = e
        w[:, i1:i2] = w1
        w[:, i2:] -= err @ u[i1:i2, i2:]
    return w


def main():
    wpath, gpath, count, rows, cols, sparsity, out = sys.argv[1:]
    rows, cols, count = int(rows), int(cols), int(count)
    w = np.fromfile(wpath, dtype=np.float32).reshape(rows, cols)
    h = (np.fromfile(gpath, dtype=np.float64).reshape(cols, cols) * (2 / count)).astype(np.float32)
    t0 = time.perf_counter()
    pruned = prune(w, h, float(sparsity))
    seconds = time.perf_counter() - t0
    pruned.astype(np.float32).tofile(out)
    print(seconds)


main()
