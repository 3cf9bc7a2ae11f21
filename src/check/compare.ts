// Comparing our outputs with references.

/** max |a - b|; Infinity when lengths differ or any difference is NaN (NaN never passes). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d; // NaN anywhere fails the case
  }
  return m;
}

