// Indexing helpers for tests under `noUncheckedIndexedAccess`: they narrow `T | undefined` to `T`
// and fail loudly, naming the index, when the element is not there.

/** `arr[i]`, throwing (naming the index and the length) when the array has no element there. */
export function at<T>(arr: readonly T[], i: number): T {
  if (i < 0 || i >= arr.length) throw new Error(`no element at index ${i} (length ${arr.length})`);
  return arr[i] as T;
}

/** Capture group `i` of a regex match, throwing (naming the group) when it did not participate in the match. */
export function group(m: RegExpMatchArray | RegExpExecArray, i: number): string {
  const g = m[i];
  if (g === undefined) throw new Error(`regex group ${String(i)} is missing in match ${JSON.stringify(m[0])}`);
  return g;
}
