/**
 * A room's attributes travel from the store to the response as JSON text: the stores make it once
 * (Redis in its read script, SQLite once per cached room), and the envelope splices it in, so a
 * get does not parse and re-serialise the map on every call.
 */

/** Key -> value pairs as a JSON object's text. `__proto__` is written as data, like any key. */
export function attributesJson(entries: Iterable<readonly [string, string]>): string {
  // fromEntries defines own properties, so `__proto__` stays a key; stringify writes own ones.
  return JSON.stringify(Object.fromEntries(entries));
}

/** The map back from its text, into a null-prototype object (`__proto__` is a legal key). */
export function parseAttributesJson(text: string): Record<string, string> {
  return Object.assign(Object.create(null) as Record<string, string>, JSON.parse(text) as Record<string, string>);
}

/**
 * The named keys' pairs as a JSON object's text: each key once (as first named), keys without a
 * value left out. Written pair by pair: no object is made for the few keys a get names.
 */
export function pickedAttributesJson(keys: readonly string[], valueOf: (key: string) => string | undefined): string {
  let text = '';
  const seen = keys.length > 8 ? new Set<string>() : undefined;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    if (seen === undefined ? keys.indexOf(key) !== i : seen.has(key)) continue;
    seen?.add(key);
    const value = valueOf(key);
    if (value === undefined) continue;
    text += `${text === '' ? '{' : ','}${JSON.stringify(key)}:${JSON.stringify(value)}`;
  }
  return text === '' ? '{}' : `${text}}`;
}
