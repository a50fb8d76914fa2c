import { createPrivateKey, X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import { ApplicationFailure } from '@temporalio/common';
import { DEFAULT_MAX_PEM_BYTES } from '../pins/pem';
import { readAllowedFile, SourceRefusedError } from './safe-file';

/** A PEM private key (RSA 4096 with its chain of comments included) is far below this; anything larger is refused. */
export const MAX_PROBE_KEY_BYTES = 16 * 1024;

export const PROBE_INPUT_INVALID = 'ProbeInputInvalid';
export const PROBE_REFUSED_MESSAGE = 'probe key or certificate not allowed or unreadable';

export interface ProbeFiles {
  keyPath: unknown;
  certificatePem?: string;
  certificatePath?: unknown;
}

/**
 * The key (and certificate) of a probe, from paths a workflow input names: only below the worker's PROBE_KEY_DIR
 * (a certificate file also below CERT_SOURCE_DIRS), bounded, without following links or blocking, and parsed.
 * Whatever is wrong (missing, not allowed, a FIFO, not a key), the answer is the same non-retryable failure.
 */
export async function readProbeInputs(input: ProbeFiles, dirs: { keyDirs: readonly string[]; certDirs?: readonly string[] }): Promise<{ keyPem: string; certificatePem?: string }> {
  try {
    const keyBytes = await readAllowedFile(input.keyPath, { allowedDirs: dirs.keyDirs, maxBytes: MAX_PROBE_KEY_BYTES });
    if (keyBytes.length > MAX_PROBE_KEY_BYTES) throw new SourceRefusedError();
    const keyPem = keyBytes.toString('utf8');
    createPrivateKey(keyPem);
    let certificatePem = input.certificatePem;
    if (certificatePem === undefined && input.certificatePath !== undefined) {
      const certBytes = await readAllowedFile(input.certificatePath, { allowedDirs: [...dirs.keyDirs, ...(dirs.certDirs ?? [])], maxBytes: DEFAULT_MAX_PEM_BYTES });
      if (certBytes.length > DEFAULT_MAX_PEM_BYTES) throw new SourceRefusedError();
      certificatePem = certBytes.toString('utf8');
    }
    if (certificatePem !== undefined) new X509Certificate(certificatePem);
    return { keyPem, certificatePem };
  } catch {
    throw ApplicationFailure.create({ message: PROBE_REFUSED_MESSAGE, type: PROBE_INPUT_INVALID, nonRetryable: true });
  }
}

export interface MtlsProbeResult {
  accepted: boolean;
  status: number;
  matchedRole: string | null;
}

/** One real TLS handshake with a client certificate against `/mtls/{clientId}` (the TLS validation trigger). */
export async function probeMtls(opts: { baseUrl: string; clientId: string; certificatePem: string; keyPem: string; caPem?: string; timeoutMs?: number }): Promise<MtlsProbeResult> {
  const url = new URL(`/mtls/${encodeURIComponent(opts.clientId)}`, opts.baseUrl);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'GET', cert: opts.certificatePem, key: opts.keyPem, ca: opts.caPem, timeout: opts.timeoutMs ?? 10_000, agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (text.length < 4096) text += chunk;
        });
        res.on('end', () => {
          let matchedRole: string | null = null;
          try {
            const body = JSON.parse(text) as { matchedRole?: unknown };
            matchedRole = typeof body.matchedRole === 'string' ? body.matchedRole : null;
          } catch {
            // Not JSON: the status alone decides.
          }
          resolve({ accepted: res.statusCode === 200, status: res.statusCode ?? 0, matchedRole });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('mTLS probe timed out')));
    req.on('error', (err) => reject(new Error(`mTLS probe failed: ${err.message}`)));
    req.end();
  });
}
