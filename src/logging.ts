import pino from 'pino';

/** Structured JSON logs; these paths are redacted wherever they appear, as a second line of defence. */
export const REDACT_PATHS = [
  'secret',
  '*.secret',
  'clientSecret',
  '*.clientSecret',
  'token',
  '*.token',
  'accessToken',
  '*.accessToken',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'privateKey',
  '*.privateKey',
  'privateKeyPem',
  '*.privateKeyPem',
];

export function createLogger(level = process.env.LOG_LEVEL ?? 'info', destination?: pino.DestinationStream): pino.Logger {
  return pino({ level, base: { service: 'genesys-pin-rotation' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, destination);
}

/**
 * A URL fit for a log line: user name, password, query and fragment removed (they carry tokens and keys);
 * something that does not parse becomes `[unparsable url]` rather than being printed raw.
 */
export function redactUrl(value: string | undefined | null): string | undefined {
  if (value === undefined || value === null) return undefined;
  try {
    const url = new URL(value);
    const credentials = url.username || url.password ? '[redacted]@' : '';
    const rest = url.search || url.hash ? '?[redacted]' : '';
    return `${url.protocol}//${credentials}${url.host}${url.pathname}${rest}`;
  } catch {
    return '[unparsable url]';
  }
}
