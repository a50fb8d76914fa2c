import { parseDuration } from '../../pins/duration';
import { DEFAULT_MAX_PEM_BYTES } from '../../pins/pem';
import { DEFAULT_EXPECTED_ISSUER, DEFAULT_MIN_REMAINING } from '../../pins/policy';
import { MAX_TRUST_BYTES, validateCertificateChain, type IdentityOptions, type ValidationResult } from '../../pins/validate';
import { parse, UsageError } from '../usage';
import { processIo, readFileBounded, tooLargeProblem, type CommandIo } from '../io';
import { certificateJson, certificateLines, usageFailure } from './pins';

const HELP = `usage: pinrotate validate FILE --trust CA.pem [--client ID [--client-name NAME]] [--expected-issuer CN]
                         [--at ISO] [--min-remaining ${DEFAULT_MIN_REMAINING}] [--json]

Validates a client certificate chain (leaf first) with the checks a rotation makes: RFC 5280 path validation
to a --trust certificate over every candidate path (signatures, validity of every certificate including the
anchor, cA flag and keyCertSign of every issuer, pathLenConstraint, no unknown critical extension, no SHA-1
or MD5 signature, RSA >= 2048 / EC >= 256 bits / no DSA on every certificate, clientAuth on the leaf and
not excluded by an issuer), a leaf that is not a CA, at least --min-remaining left (default
${DEFAULT_MIN_REMAINING}, the worker's), the issuer CN (default ${DEFAULT_EXPECTED_ISSUER}) and, with --client, that the
leaf's CN or a subjectAltName is the client id (or --client-name).
Exit codes: 0 valid, 1 invalid (every problem is listed, the first is the headline), 2 usage.
`;

const OPTIONS = {
  trust: { type: 'string' },
  'expected-issuer': { type: 'string' },
  at: { type: 'string' },
  'min-remaining': { type: 'string' },
  client: { type: 'string' },
  'client-name': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

interface Invocation {
  file: string;
  trust: string;
  expectedIssuer: string;
  at: Date;
  minRemainingMs: number;
  identity?: IdentityOptions;
}

function parseInvocation(argv: string[]): Invocation | 'help' {
  const { values, positionals } = parse(argv, OPTIONS, true);
  if (values.help) return 'help';
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'FILE is required' : 'exactly one FILE is expected');
  if (!values.trust) throw new UsageError('--trust CA.pem is required');
  const expectedIssuer = values['expected-issuer'] ?? DEFAULT_EXPECTED_ISSUER;
  if (expectedIssuer.length === 0) throw new UsageError('--expected-issuer must not be empty');
  let at = new Date();
  if (values.at !== undefined) {
    // Date.parse accepts almost anything; insist on an ISO 8601 date or date-time.
    at = new Date(values.at);
    if (!/^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?$/.test(values.at) || Number.isNaN(at.getTime())) {
      throw new UsageError('--at must be an ISO 8601 date-time such as 2026-01-31T12:00:00Z');
    }
  }
  let minRemainingMs: number;
  try {
    minRemainingMs = parseDuration(values['min-remaining'] ?? DEFAULT_MIN_REMAINING);
  } catch (err) {
    throw new UsageError(`--min-remaining: ${(err as Error).message}`);
  }
  if (values.client !== undefined && values.client.length === 0) throw new UsageError('--client must not be empty');
  if (values['client-name'] !== undefined && values.client === undefined) throw new UsageError('--client-name needs --client ID');
  const identity = values.client === undefined ? undefined : { clientId: values.client, clientName: values['client-name'] || undefined };
  return { file: positionals[0], trust: values.trust, expectedIssuer, at, minRemainingMs, identity };
}

function printResult(io: CommandIo, result: ValidationResult, json: boolean): void {
  if (json) {
    const body = result.valid
      ? { valid: true, certificates: result.certificates.map(certificateJson) }
      : { valid: false, error: result.error, errors: result.errors };
    io.stdout.write(`${JSON.stringify(body)}\n`);
    return;
  }
  if (result.valid) {
    const n = result.certificates.length;
    io.stdout.write(`valid: ${n} certificate${n === 1 ? '' : 's'}, signature path verified to the trust bundle\n${certificateLines(result.certificates)}\n`);
    return;
  }
  const lines = [`invalid: ${result.error.code}: ${result.error.message}`];
  for (const problem of result.errors) lines.push(`  - ${problem.code}: ${problem.message}`);
  io.stdout.write(`${lines.join('\n')}\n`);
}

export async function run(argv: string[], io: CommandIo = processIo): Promise<number> {
  const json = argv.includes('--json');
  let inv: Invocation | 'help';
  let input: Awaited<ReturnType<typeof readFileBounded>>;
  let trust: Awaited<ReturnType<typeof readFileBounded>>;
  try {
    inv = parseInvocation(argv);
    if (inv === 'help') {
      io.stdout.write(HELP);
      return 0;
    }
    input = await readFileBounded(inv.file, DEFAULT_MAX_PEM_BYTES);
    trust = await readFileBounded(inv.trust, MAX_TRUST_BYTES);
    if (trust.tooLarge) throw new UsageError(`--trust file is larger than ${MAX_TRUST_BYTES} bytes`);
  } catch (err) {
    if (err instanceof UsageError) return usageFailure(io, 'validate', err.message, json, HELP);
    throw err;
  }

  const result: ValidationResult = input.tooLarge
    ? { valid: false, error: tooLargeProblem(DEFAULT_MAX_PEM_BYTES), errors: [tooLargeProblem(DEFAULT_MAX_PEM_BYTES)] }
    : validateCertificateChain(input.bytes, {
        trustPem: trust.bytes,
        expectedIssuer: inv.expectedIssuer,
        at: inv.at,
        minRemainingMs: inv.minRemainingMs,
        identity: inv.identity,
      });
  printResult(io, result, json);
  return result.valid ? 0 : 1;
}
