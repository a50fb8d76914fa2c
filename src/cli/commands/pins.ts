import { describeCertificate } from '../../pins/digest';
import { CertificateError, safeText } from '../../pins/errors';
import { DEFAULT_MAX_PEM_BYTES, parseCertificates } from '../../pins/pem';
import type { CertificateInfo } from '../../pins/types';
import { processIo, readFileBounded, tooLargeProblem, type BoundedRead, type CommandIo } from '../io';
import { parse, UsageError } from '../usage';

export type { CommandIo } from '../io';

/** Exactly the DESIGN.md §6 keys, in that order, whatever CertificateInfo grows later. */
export function certificateJson(info: CertificateInfo): CertificateInfo {
  return {
    subject: info.subject,
    issuer: info.issuer,
    serialNumber: info.serialNumber,
    notBefore: info.notBefore,
    notAfter: info.notAfter,
    sha256Spki: info.sha256Spki,
    sha256Certificate: info.sha256Certificate,
  };
}

/** One readable line per certificate: position, subject, expiry and both pins. */
export function certificateLines(certs: readonly CertificateInfo[]): string {
  return certs
    .map((c, i) => {
      const role = i === 0 ? 'leaf' : `chain[${i}]`;
      return `${role.padEnd(8)} ${safeText(c.subject)}  notAfter ${c.notAfter}  sha256Spki ${c.sha256Spki}  sha256Certificate ${c.sha256Certificate}`;
    })
    .join('\n');
}

/** Usage errors: exit 2, the message on stderr and, with --json, a machine-readable line on stdout. */
export function usageFailure(io: CommandIo, command: string, message: string, json: boolean, help: string): number {
  io.stderr.write(`pinrotate ${command}: ${message}\n${help}`);
  if (json) io.stdout.write(`${JSON.stringify({ valid: false, error: { code: 'USAGE', message } })}\n`);
  return 2;
}

const HELP = `usage: pinrotate pins FILE [--json]

Prints the SHA-256 pins (SPKI and whole certificate) of every certificate in a PEM file, leaf first.
It frames, parses and hashes only: use \`pinrotate validate\` to check a chain. FILE may be - (stdin).
Exit codes: 0 pins printed, 1 no certificate in the file, 2 usage.
`;

export async function run(argv: string[], io: CommandIo = processIo): Promise<number> {
  const json = argv.includes('--json');
  let file: string;
  try {
    const { values, positionals } = parse(argv, { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, true);
    if (values.help) {
      io.stdout.write(HELP);
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'FILE is required' : 'exactly one FILE is expected');
    file = positionals[0];
  } catch (err) {
    if (err instanceof UsageError) return usageFailure(io, 'pins', err.message, json, HELP);
    throw err;
  }

  let read: BoundedRead;
  try {
    read = await readFileBounded(file, DEFAULT_MAX_PEM_BYTES);
  } catch (err) {
    if (err instanceof UsageError) return usageFailure(io, 'pins', err.message, json, '');
    throw err;
  }

  let certificates: CertificateInfo[];
  try {
    if (read.tooLarge) throw new CertificateError('INPUT_TOO_LARGE', tooLargeProblem(DEFAULT_MAX_PEM_BYTES).message);
    certificates = parseCertificates(read.bytes).map((cert) => certificateJson(describeCertificate(cert)));
  } catch (caught) {
    // Every file gets an answer in the DESIGN.md §6 shape, even one that trips something unforeseen.
    const err = caught instanceof CertificateError ? caught : new CertificateError('PEM_INVALID', 'certificate could not be processed');
    if (json) io.stdout.write(`${JSON.stringify({ valid: false, error: err.problem })}\n`);
    else io.stdout.write(`no certificate: ${err.code}: ${err.message}\n`);
    return 1;
  }

  if (json) io.stdout.write(`${JSON.stringify({ certificates })}\n`);
  else io.stdout.write(`${certificateLines(certificates)}\n`);
  return 0;
}
