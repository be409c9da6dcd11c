/** Query parameters whose values never reach a log line, by their name as the query parser decodes it. */
const SECRET_NAMES = new Set(['access_token', 'token']);

/**
 * A parameter's name as the query parser reads it ('+' is a space, %XX a byte), lower-cased. Only
 * ASCII names matter here, so each %XX is taken as one character and a malformed escape is kept as
 * it is: `access%5Ftoken`, `%61ccess_token` and `ACCESS_TOKEN` all come out as access_token.
 */
function decodedName(raw: string): string {
  return raw
    .replace(/\+/g, ' ')
    .replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
    .toLowerCase();
}

/** `url` with the value of every secret parameter (any spelling of its name, each repetition) redacted. */
export function redactUrl(url: string): string {
  const q = typeof url === 'string' ? url.indexOf('?') : -1;
  if (q < 0) return url;
  const params = url.slice(q + 1).split('&');
  let changed = false;
  for (let i = 0; i < params.length; i++) {
    const param = params[i]!;
    const eq = param.indexOf('=');
    if (eq < 0 || !SECRET_NAMES.has(decodedName(param.slice(0, eq)))) continue;
    params[i] = `${param.slice(0, eq)}=[redacted]`;
    changed = true;
  }
  return changed ? `${url.slice(0, q + 1)}${params.join('&')}` : url;
}
