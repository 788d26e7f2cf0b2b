/** The median (upper median for even lengths), as benchmarks and latency measurements report it. */
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
