/** Order statistics for the benches' samples: the nearest-rank percentile, NaN when there are none. */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number) : Number.NaN;
}

export const median = (xs: number[]): number => percentile(xs, 50);
