import { request } from 'node:https';

/** A PEM private key (RSA 4096 with its chain of comments included) is far below this; anything larger is refused. */
export const MAX_PROBE_KEY_BYTES = 16 * 1024;

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
