import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { certificatePin, oneLineName, spkiPin } from '../pins/digest';
import { decodeSegment, errorBody, HttpError, sendJson, type RequestContext } from './http-util';
import type { Platform } from './platform';
import type { MtlsCheckResult } from './types';

const MTLS_PATH = /^\/mtls\/([^/]+)$/;

/**
 * The TLS validation trigger: `GET /mtls/{clientId}` on the HTTPS listener accepts only a client certificate
 * whose SPKI and certificate digests both equal one of the client's pins. The chain is not checked here on
 * purpose: pinning is the check under test, and the handshake already proved possession of the key.
 */
export function handleMtls(ctx: RequestContext, platform: Platform): void {
  const match = MTLS_PATH.exec(ctx.path);
  if (!match) throw new HttpError(404, `No route for ${ctx.method} ${ctx.path}; use GET /mtls/{clientId}.`);
  if (ctx.method !== 'GET') throw new HttpError(405, 'Use GET for /mtls/{clientId}.', { headers: { allow: 'GET' } });
  const clientId = decodeSegment(match[1]);
  const client = platform.activePins(clientId);
  if (!client) {
    refuse(ctx, 404, { accepted: false, clientId, reason: 'client_not_found' }, `OAuth client ${clientId} was not found.`);
    return;
  }
  const peer = (ctx.req.socket as TLSSocket).getPeerCertificate?.();
  if (!peer || !peer.raw) {
    refuse(ctx, 403, { accepted: false, clientId, reason: 'no_client_certificate' }, 'No client certificate was presented.');
    return;
  }
  const cert = new X509Certificate(peer.raw);
  const presented = { subject: oneLineName(cert.subject), sha256Spki: spkiPin(cert), sha256Certificate: certificatePin(cert) };
  if (client.state !== 'active') {
    refuse(ctx, 403, { accepted: false, clientId, reason: 'client_inactive', presented }, `OAuth client ${clientId} is inactive.`);
    return;
  }
  const pin = client.pins.find((p) => p.sha256Spki === presented.sha256Spki && p.sha256Certificate === presented.sha256Certificate);
  if (!pin) {
    refuse(ctx, 403, { accepted: false, clientId, reason: 'no_matching_pin', presented }, 'The client certificate matches none of the active pins.');
    return;
  }
  const result: MtlsCheckResult = { accepted: true, clientId, matchedRole: pin.role, presented };
  sendJson(ctx.res, 200, result);
}

/** Refusals carry both the check result and the ErrorBody fields, so either kind of client can read them. */
function refuse(ctx: RequestContext, status: number, result: MtlsCheckResult, message: string): void {
  sendJson(ctx.res, status, { ...errorBody(status, message, ctx.correlationId), ...result });
}
