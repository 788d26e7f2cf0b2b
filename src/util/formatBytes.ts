/** 1536 → "1.5 KiB", 7.3e9 → "6.8 GiB": sizes for people, in the unit that keeps them readable. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let u = 0;
  while (n >= 1024 && u < units.length - 1) {
    n /= 1024;
    u++;
  }
  return `${u === 0 ? Math.round(n) : n.toFixed(n >= 100 ? 0 : 1)} ${units[u]}`;
}
