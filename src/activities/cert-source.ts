import { open } from 'node:fs/promises';
import { ApplicationFailure } from '@temporalio/common';
import { CertificateError } from '../pins/errors';
import { DEFAULT_MAX_PEM_BYTES, splitPem } from '../pins/pem';

/**
 * Where a scheduled or fleet rotation gets the new certificate: `file:PATH` (a PEM on the worker, as cert-manager
 * or a Vault agent writes it), `https://…` (a PKI manager endpoint answering PEM), or `emulator-ca` (issued by the
 * emulator's CA, for demos). Only certificate blocks come back: a private key never leaves this module.
 */

export const CERT_SOURCE_INVALID = 'CertSourceInvalid';
export const CERT_SOURCE_UNAVAILABLE = 'CertSourceUnavailable';

export interface CertSourceDeps {
  /**
   * Issues a certificate for `emulator-ca` and returns its PEM (never its key). Injected by whoever builds the
   * worker (the dev stack passes the emulator's CA), so production activities depend on no emulator code.
   */
  emulatorIssuer?: (clientId: string) => Promise<string>;
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

async function readBounded(path: string): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buf = Buffer.alloc(DEFAULT_MAX_PEM_BYTES + 1);
    let total = 0;
    while (total < buf.length) {
      const { bytesRead } = await handle.read(buf, total, buf.length - total, null);
      if (bytesRead === 0) break;
      total += bytesRead;
    }
    return buf.subarray(0, total);
  } finally {
    await handle.close();
  }
}

export async function obtainCertificate(source: string, clientId: string, deps: CertSourceDeps): Promise<string> {
  const { kind, location } = describeSource(source);
  let raw: string | Uint8Array;
  try {
    if (kind === 'emulator-ca') {
      if (!deps.emulatorIssuer) throw ApplicationFailure.create({ message: 'emulator-ca needs EMULATOR_ADMIN_URL and EMULATOR_ADMIN_TOKEN on the worker', type: CERT_SOURCE_INVALID, nonRetryable: true });
      raw = await deps.emulatorIssuer(clientId);
    } else if (kind === 'file') {
      raw = await readBounded(location);
    } else {
      const res = await fetch(location, { headers: { accept: 'application/x-pem-file, text/plain' }, signal: AbortSignal.timeout(deps.timeoutMs ?? 10_000) });
      if (res.status >= 400 && res.status < 500) {
        throw ApplicationFailure.create({ message: `certificate source ${location} answered HTTP ${res.status}`, type: CERT_SOURCE_INVALID, nonRetryable: true });
      }
      if (!res.ok) throw ApplicationFailure.create({ message: `certificate source ${location} answered HTTP ${res.status}`, type: CERT_SOURCE_UNAVAILABLE });
      const text = await res.text();
      if (text.length > DEFAULT_MAX_PEM_BYTES) throw new CertificateError('INPUT_TOO_LARGE', 'the source answered more than 256 KiB');
      raw = text;
    }
  } catch (err) {
    if (err instanceof ApplicationFailure || err instanceof CertificateError) throw asFailure(err);
    const code = (err as NodeJS.ErrnoException).code;
    if (kind === 'file' && (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR')) {
      throw ApplicationFailure.create({ message: `certificate source ${location}: ${code}`, type: CERT_SOURCE_INVALID, nonRetryable: true });
    }
    throw ApplicationFailure.create({ message: `certificate source ${kind} unavailable: ${err instanceof Error ? err.message : String(err)}`, type: CERT_SOURCE_UNAVAILABLE });
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
