/** A restore (import) found a record the store already holds; nothing of that unit was written. */
export class RestoreConflict extends Error {
  constructor(
    readonly what: 'user' | 'room',
    readonly id: string,
  ) {
    super(`the store already holds ${what} ${id}`);
    this.name = 'RestoreConflict';
  }
}

/** Numeric ids in numeric order (ids are digit strings without leading zeros, of any length). */
export function compareRoomIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}
