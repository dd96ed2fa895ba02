// Integer helpers for tree shapes. Sizes and indexes are safe integers (< 2^53).

/** The largest power of two strictly less than n (n >= 2): RFC 6962's split point k. */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

export function isPowerOfTwo(n: number): boolean {
  return n > 0 && 2 ** Math.round(Math.log2(n)) === n;
}

/** Normalizes a size or index given as number or bigint; undefined if not a safe non-negative integer. */
export function toSafeCount(value: unknown): number | undefined {
  if (typeof value === "bigint") {
    if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
    return Number(value);
  }
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return value;
  return undefined;
}
