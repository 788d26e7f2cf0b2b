/**
 * A small seeded PRNG (mulberry32): same seed, same sequence, on every platform. Its whole state is one
 * number, so a search can checkpoint it and resume the identical sequence.
 */
export class Rng {
  constructor(public state: number) {
    this.state = state >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** `k` distinct elements of `items` in random order (partial Fisher–Yates). */
  sample<T>(items: readonly T[], k: number): T[] {
    const a = [...items];
    const n = Math.min(k, a.length);
    for (let i = 0; i < n; i++) {
      const j = i + this.int(a.length - i);
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a.slice(0, n);
  }
}

export function seededRandom(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}
