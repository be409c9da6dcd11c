/** Query parameters whose values never reach a log line. */
const SECRET_PARAMS = /([?&](?:access_token|token)=)[^&]*/gi;

export function redactUrl(url: string): string {
  return url.replace(SECRET_PARAMS, '$1[redacted]');
}
