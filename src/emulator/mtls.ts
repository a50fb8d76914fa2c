import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { certificatePin, oneLineName, spkiPin } from '../pins/digest';
import { decodeSegment, errorBody, HttpError, sendJson, type RequestContext } from './http-util';
import type { Platform } from './platform';
import type { HandshakeTelemetry } from './telemetry';
import type { MtlsCheckResult } from './types';

const MTLS_PATH = /^\/mtls\/([^/]+)$/;
const REFUSED = 'The client certificate matches none of the active pins of this client.';

/**
 * The TLS validation trigger: `GET /mtls/{clientId}` on the HTTPS listener accepts only a client certificate
 * whose SPKI and certificate digests both equal one of the client's active pins. The chain is not checked here on
 * purpose: pinning is the check under test, and the handshake already proved possession of the key.
 *
 * Every answer closes the connection, so each check is exactly one TLS handshake, and each is counted in the
 * client's telemetry. An unknown client, an inactive one and a certificate matching no pin get the same 403
 * (nothing tells which ids exist).
 */
export function handleMtls(ctx: RequestContext, platform: Platform, telemetry: HandshakeTelemetry): void {
  ctx.res.setHeader('connection', 'close');
  const match = MTLS_PATH.exec(ctx.path);
  if (!match) throw new HttpError(404, `No route for ${ctx.method} ${ctx.path}; use GET /mtls/{clientId}.`);
  if (ctx.method !== 'GET') throw new HttpError(405, 'Use GET for /mtls/{clientId}.', { headers: { allow: 'GET' } });
  const clientId = decodeSegment(match[1]);
  const client = platform.activePins(clientId);
  const peer = (ctx.req.socket as TLSSocket).getPeerCertificate?.();
  if (!peer || !peer.raw) {
    if (client) telemetry.record(clientId, undefined);
    refuse(ctx, { accepted: false, clientId, reason: 'no_client_certificate' }, 'No client certificate was presented.');
    return;
  }
  const cert = new X509Certificate(peer.raw);
  const presented = { subject: oneLineName(cert.subject), sha256Spki: spkiPin(cert), sha256Certificate: certificatePin(cert) };
  const pin =
    client && client.state === 'active'
      ? client.pins.find((p) => p.sha256Spki === presented.sha256Spki && p.sha256Certificate === presented.sha256Certificate)
      : undefined;
  if (client) telemetry.record(clientId, pin);
  if (!pin) {
    refuse(ctx, { accepted: false, clientId, reason: 'no_matching_pin', presented }, REFUSED);
    return;
  }
  const result: MtlsCheckResult = { accepted: true, clientId, matchedRole: pin.role, presented };
  sendJson(ctx.res, 200, result);
}

/** Refusals carry both the check result and the ErrorBody fields, so either kind of client can read them. */
function refuse(ctx: RequestContext, result: MtlsCheckResult, message: string): void {
  sendJson(ctx.res, 403, { ...errorBody(403, message, ctx.correlationId), ...result });
}
