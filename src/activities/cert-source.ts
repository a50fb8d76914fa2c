import { ApplicationFailure } from '@temporalio/common';
import { CertificateError } from '../pins/errors';
import { DEFAULT_MAX_PEM_BYTES, splitPem } from '../pins/pem';
import { fetchAllowed, SourceTooLargeError, SourceUnavailableError, type FetchPolicy } from './safe-fetch';
import { readAllowedFile, SourceRefusedError } from './safe-file';

/**
 * Where a scheduled or fleet rotation gets the new certificate: `file:PATH` (a PEM on the worker, as cert-manager
 * or a Vault agent writes it), `https://…` (a PKI manager endpoint answering PEM), or `emulator-ca` (issued by the
 * emulator's CA, for demos). Only certificate blocks come back: a private key never leaves this module.
 *
 * Whoever starts a workflow names the source, so the worker's configuration bounds it: files only below
 * CERT_SOURCE_DIRS, hosts only from CERT_SOURCE_HOSTS (see safe-file.ts and safe-fetch.ts). Everything refused,
 * for whatever reason, gets the same answer (`CERT_SOURCE_REFUSED_MESSAGE`): no oracle for what exists where.
 */

export const CERT_SOURCE_INVALID = 'CertSourceInvalid';
export const CERT_SOURCE_UNAVAILABLE = 'CertSourceUnavailable';
export const CERT_SOURCE_REFUSED_MESSAGE = 'certificate source not allowed or unreadable';

export interface CertSourceDeps {
  /** Issues a certificate for `emulator-ca` and returns its PEM (the private key stays with the provider). */
  issueFromCa?: (commonName: string) => Promise<string>;
  /** Canonical directories `file:` sources may name (CERT_SOURCE_DIRS). None: `file:` sources are refused. */
  allowedDirs?: readonly string[];
  /** Hosts, address policy and trust for `https://` sources (CERT_SOURCE_HOSTS and friends). None: refused. */
  https?: Omit<FetchPolicy, 'maxBytes'>;
  timeoutMs?: number;
}

export function describeSource(source: string): { kind: 'file' | 'https' | 'emulator-ca'; location: string } {
  if (source === 'emulator-ca') return { kind: 'emulator-ca', location: 'emulator CA' };
  if (source.startsWith('file:') && source.length > 5) return { kind: 'file', location: source.slice(5) };
  if (/^https:\/\/[^\s]+$/.test(source)) return { kind: 'https', location: source };
  throw ApplicationFailure.create({
    message: `certificate source "${source.slice(0, 80)}" is not file:PATH, https://URL or emulator-ca`,
    type: CERT_SOURCE_INVALID,
    nonRetryable: true,
  });
}

/** Re-frames only the certificate blocks, so surrounding text (and anything else) stays behind. */
export function certificateBlocksOnly(raw: string | Uint8Array): string {
  const blocks = splitPem(raw, { maxBytes: DEFAULT_MAX_PEM_BYTES }).filter((b) => b.label === 'CERTIFICATE');
  if (blocks.length === 0) throw new CertificateError('NOT_A_CERTIFICATE', 'the source holds no certificate');
  return blocks.map((b) => `-----BEGIN CERTIFICATE-----\n${b.der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`).join('');
}

function refused(): ApplicationFailure {
  return ApplicationFailure.create({ message: CERT_SOURCE_REFUSED_MESSAGE, type: CERT_SOURCE_INVALID, nonRetryable: true });
}

async function readSource(kind: 'file' | 'https' | 'emulator-ca', location: string, clientId: string, deps: CertSourceDeps): Promise<string | Uint8Array> {
  if (kind === 'emulator-ca') {
    if (!deps.issueFromCa) throw refused();
    return deps.issueFromCa(clientId);
  }
  if (kind === 'file') return readAllowedFile(location, { allowedDirs: deps.allowedDirs ?? [], maxBytes: DEFAULT_MAX_PEM_BYTES });
  if (!deps.https) throw refused();
  return fetchAllowed(location, { ...deps.https, maxBytes: DEFAULT_MAX_PEM_BYTES, totalTimeoutMs: deps.https.totalTimeoutMs ?? deps.timeoutMs });
}

export async function obtainCertificate(source: string, clientId: string, deps: CertSourceDeps): Promise<string> {
  let kind: 'file' | 'https' | 'emulator-ca';
  let location: string;
  try {
    ({ kind, location } = describeSource(source));
  } catch {
    throw refused();
  }
  let raw: string | Uint8Array;
  try {
    raw = await readSource(kind, location, clientId, deps);
  } catch (err) {
    if (err instanceof ApplicationFailure) throw err;
    if (err instanceof SourceTooLargeError) throw asFailure(new CertificateError('INPUT_TOO_LARGE', 'the source answered more than 256 KiB'));
    if (err instanceof SourceUnavailableError) throw ApplicationFailure.create({ message: 'certificate source temporarily unavailable', type: CERT_SOURCE_UNAVAILABLE });
    if (err instanceof SourceRefusedError || kind !== 'emulator-ca') throw refused();
    // The emulator CA is configured by the operator, not named by the input: its errors may be shown and retried.
    throw ApplicationFailure.create({ message: `emulator CA unavailable: ${err instanceof Error ? err.message : String(err)}`, type: CERT_SOURCE_UNAVAILABLE });
  }
  try {
    return certificateBlocksOnly(raw);
  } catch (err) {
    throw asFailure(err);
  }
}

function asFailure(err: unknown): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof CertificateError) {
    return ApplicationFailure.create({ message: `${err.code}: ${err.message}`, type: 'CertificateInvalid', nonRetryable: true, details: [{ code: err.code, problems: err.problems }] });
  }
  return ApplicationFailure.create({ message: err instanceof Error ? err.message : String(err), type: CERT_SOURCE_UNAVAILABLE });
}
