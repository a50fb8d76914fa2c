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
