import { X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import { spkiPin } from '../pins/digest';
import type { Pin } from '../pins/types';
import type { EmulatorCa, IssuedKeyRecord } from './ca';
import { HttpError } from './http-util';
import type { Platform } from './platform';
import type { ProcessedDelivery } from './webhook-receiver';

/** Field clients one emulator runs at most; each makes real handshakes, so they cost CPU. */
export const MAX_FIELD_CLIENTS = 200;
export const MAX_HANDSHAKES_PER_SECOND = 50;
const MAX_DEPLOY_DELAY_MS = 7 * 86_400_000;
/** Handshakes one field client has in flight at most; past it a tick is skipped (a slow gateway is not flooded). */
const MAX_IN_FLIGHT = 4;
const HANDSHAKE_TIMEOUT_MS = 5_000;
const MAX_DEPLOYMENTS_SHOWN = 20;

export interface FieldClientSpec {
  clientId: string;
  handshakesPerSecond?: number;
  deployDelayMs?: number;
}

/** The certificate a field client presents (never its key). */
export interface DeployedCertificate {
  subject: string;
  serialNumber: string;
  sha256Spki: string;
  sha256Certificate: string;
  notAfter: string;
}

/** `GET /__admin/field-clients` entry. */
export interface FieldClientView {
  clientId: string;
  handshakesPerSecond: number;
  deployDelayMs: number;
  startedAt: string;
  certificate: DeployedCertificate;
  accepted: number;
  rejected: number;
  /** Handshakes that got no answer (connection error, timeout): not counted as accepted or rejected. */
  errors: number;
  lastRejection: { at: string; status: number; reason: string | null; sha256Spki: string } | null;
  lastError: { at: string; message: string } | null;
  /** A move to a new certificate waiting for its deploy delay. */
  pendingDeploy: { at: string; sha256Spki: string; event: string } | null;
  /** Certificate moves so far, oldest first (the last few). */
  deployments: Array<{ at: string; sha256Spki: string; event: string }>;
  /** Why the last move could not happen (e.g. the new certificate's key is unknown to the emulator CA). */
  lastDeployError: string | null;
}

export interface FieldClientsDeps {
  platform: Platform;
  ca: EmulatorCa;
  /** https://host:port of the mTLS listener, and the CA its server certificate chains to. */
  mtlsUrl: () => string;
  caPem: string;
  now?: () => number;
}

function describe(record: IssuedKeyRecord): DeployedCertificate {
  const { subject, serialNumber, sha256Spki, sha256Certificate, notAfter } = record;
  return { subject, serialNumber, sha256Spki, sha256Certificate, notAfter };
}

class FieldClient {
  accepted = 0;
  rejected = 0;
  errors = 0;
  lastRejection: FieldClientView['lastRejection'] = null;
  lastError: FieldClientView['lastError'] = null;
  pendingDeploy: FieldClientView['pendingDeploy'] = null;
  deployments: FieldClientView['deployments'] = [];
  lastDeployError: string | null = null;
  private inFlight = 0;
  private readonly interval: NodeJS.Timeout;
  private deployTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  readonly startedAt: number;

  constructor(
    readonly clientId: string,
    readonly handshakesPerSecond: number,
    readonly deployDelayMs: number,
    private deployed: IssuedKeyRecord,
    private readonly deps: FieldClientsDeps,
  ) {
    const now = deps.now ?? Date.now;
    this.startedAt = now();
    this.interval = setInterval(() => this.tick(), Math.max(1, Math.round(1000 / handshakesPerSecond)));
    this.interval.unref();
  }

  get certificate(): IssuedKeyRecord {
    return this.deployed;
  }

  /** The PKI manager processed an event naming a new primary: deploy it after the delay. */
  scheduleDeploy(target: IssuedKeyRecord, event: string): void {
    if (this.stopped) return;
    if (this.deployTimer) clearTimeout(this.deployTimer);
    const now = this.deps.now ?? Date.now;
    this.pendingDeploy = { at: new Date(now() + this.deployDelayMs).toISOString(), sha256Spki: target.sha256Spki, event };
    this.deployTimer = setTimeout(() => {
      this.deployTimer = undefined;
      this.pendingDeploy = null;
      this.deployed = target;
      this.deployments.push({ at: new Date(now()).toISOString(), sha256Spki: target.sha256Spki, event });
      if (this.deployments.length > MAX_DEPLOYMENTS_SHOWN) this.deployments.shift();
    }, this.deployDelayMs);
    this.deployTimer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.interval);
    if (this.deployTimer) clearTimeout(this.deployTimer);
    this.deployTimer = undefined;
    this.pendingDeploy = null;
  }

  view(): FieldClientView {
    return {
      clientId: this.clientId,
      handshakesPerSecond: this.handshakesPerSecond,
      deployDelayMs: this.deployDelayMs,
      startedAt: new Date(this.startedAt).toISOString(),
      certificate: describe(this.deployed),
      accepted: this.accepted,
      rejected: this.rejected,
      errors: this.errors,
      lastRejection: this.lastRejection,
      lastError: this.lastError,
      pendingDeploy: this.pendingDeploy,
      deployments: [...this.deployments],
      lastDeployError: this.lastDeployError,
    };
  }

  /** One real TLS handshake with the deployed certificate and key; a new connection each time. */
  private tick(): void {
    if (this.stopped || this.inFlight >= MAX_IN_FLIGHT) return;
    this.inFlight += 1;
    const presented = this.deployed;
    const now = this.deps.now ?? Date.now;
    // Exactly one outcome per handshake: an answer, or an error (a reset after an answer is not counted again).
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      this.inFlight -= 1;
      return !this.stopped;
    };
    const req = request(
      `${this.deps.mtlsUrl()}/mtls/${encodeURIComponent(this.clientId)}`,
      { method: 'GET', cert: presented.certificatePem, key: presented.privateKeyPem, ca: this.deps.caPem, agent: false, timeout: HANDSHAKE_TIMEOUT_MS },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (text.length < 4096) text += chunk;
        });
        res.on('error', () => undefined);
        res.on('end', () => {
          if (!settle()) return;
          if (res.statusCode === 200) {
            this.accepted += 1;
            return;
          }
          this.rejected += 1;
          let reason: string | null = null;
          try {
            const body = JSON.parse(text) as { reason?: unknown };
            reason = typeof body.reason === 'string' ? body.reason : null;
          } catch {
            // not JSON: the status says enough
          }
          this.lastRejection = { at: new Date(now()).toISOString(), status: res.statusCode ?? 0, reason, sha256Spki: presented.sha256Spki };
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('handshake timed out')));
    req.on('error', (err) => {
      if (!settle()) return;
      this.errors += 1;
      this.lastError = { at: new Date(now()).toISOString(), message: err.message };
    });
    req.end();
  }
}

/**
 * Simulated integration clients in the field (DESIGN.md §7): each makes real mTLS handshakes to the gateway with
 * the certificate it has deployed, and moves to the newly pinned primary `deployDelayMs` after the PKI receiver
 * processed a `certificate_rotation` (or `rotation_rolled_back`) for its client.
 */
export class FieldClients {
  private readonly clients = new Map<string, FieldClient>();

  constructor(private readonly deps: FieldClientsDeps) {}

  /** Starts (or restarts) the field client of `spec.clientId` with the client's current leaf. */
  start(spec: FieldClientSpec): FieldClientView {
    const hps = spec.handshakesPerSecond ?? 2;
    const delay = spec.deployDelayMs ?? 0;
    if (typeof hps !== 'number' || !Number.isFinite(hps) || hps <= 0 || hps > MAX_HANDSHAKES_PER_SECOND) {
      throw new HttpError(400, `handshakesPerSecond must be a number above 0 and at most ${MAX_HANDSHAKES_PER_SECOND}.`, {
        details: [{ errorCode: 'FIELD_INVALID', fieldName: 'handshakesPerSecond' }],
      });
    }
    if (!Number.isInteger(delay) || delay < 0 || delay > MAX_DEPLOY_DELAY_MS) {
      throw new HttpError(400, `deployDelayMs must be an integer from 0 to ${MAX_DEPLOY_DELAY_MS}.`, {
        details: [{ errorCode: 'FIELD_INVALID', fieldName: 'deployDelayMs' }],
      });
    }
    const client = this.deps.platform.getClient(spec.clientId);
    if (!client) throw new HttpError(404, `OAuth client ${spec.clientId} was not found.`);
    const leaf = leafOf(client.certificateChain);
    if (!leaf) throw new HttpError(409, `OAuth client ${spec.clientId} has no certificate chain, so there is no certificate to deploy.`, { code: 'conflict' });
    const record = this.deps.ca.issuedBySpki(spkiPin(leaf));
    if (!record) {
      throw new HttpError(
        409,
        `The private key of OAuth client ${spec.clientId}'s current leaf (serial ${leaf.serialNumber}) is not known to the emulator CA; ` +
          'a field client can only present certificates issued with POST /__admin/ca/issue by this emulator.',
        { code: 'conflict' },
      );
    }
    const existing = this.clients.get(spec.clientId);
    if (!existing && this.clients.size >= MAX_FIELD_CLIENTS) {
      throw new HttpError(409, `At most ${MAX_FIELD_CLIENTS} field clients run at once; DELETE /__admin/field-clients first.`, { code: 'conflict' });
    }
    existing?.stop();
    const fieldClient = new FieldClient(spec.clientId, hps, delay, record, this.deps);
    this.clients.set(spec.clientId, fieldClient);
    return fieldClient.view();
  }

  list(): FieldClientView[] {
    return [...this.clients.values()].map((c) => c.view()).sort((a, b) => a.clientId.localeCompare(b.clientId));
  }

  /** Stops one field client (or all when `clientId` is undefined); answers how many were stopped. */
  stop(clientId?: string): number {
    if (clientId !== undefined) {
      const client = this.clients.get(clientId);
      if (!client) return 0;
      client.stop();
      this.clients.delete(clientId);
      return 1;
    }
    const n = this.clients.size;
    for (const client of this.clients.values()) client.stop();
    this.clients.clear();
    return n;
  }

  /** The PKI receiver processed a delivery: field clients of its client deploy the primary it names. */
  onDelivery(delivery: ProcessedDelivery): void {
    if (delivery.event !== 'certificate_rotation' && delivery.event !== 'rotation_rolled_back') return;
    const clientId = delivery.body.clientId;
    if (typeof clientId !== 'string') return;
    const fieldClient = this.clients.get(clientId);
    if (!fieldClient) return;
    const target = this.target(clientId, delivery.body.pins);
    if (typeof target === 'string') {
      fieldClient.lastDeployError = target;
      return;
    }
    fieldClient.lastDeployError = null;
    if (target.sha256Spki === fieldClient.certificate.sha256Spki) return;
    fieldClient.scheduleDeploy(target, delivery.event);
  }

  /**
   * The certificate to deploy: the primary pin of the delivery when the CA knows its key, else the platform's
   * current leaf when it does. A string explains why there is none.
   */
  private target(clientId: string, pins: unknown): IssuedKeyRecord | string {
    const primary = Array.isArray(pins) ? (pins as Pin[]).find((p) => p && p.role === 'primary') : undefined;
    if (primary && typeof primary.sha256Spki === 'string') {
      const record = this.deps.ca.issuedBySpki(primary.sha256Spki);
      if (record) return record;
    }
    const leaf = leafOf(this.deps.platform.getClient(clientId)?.certificateChain ?? '');
    const record = leaf ? this.deps.ca.issuedBySpki(spkiPin(leaf)) : undefined;
    if (record) return record;
    return 'the new primary certificate was not issued by this emulator CA (its key is unknown), so the field client keeps its certificate';
  }
}

function leafOf(chain: string): X509Certificate | undefined {
  const match = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(chain);
  if (!match) return undefined;
  try {
    return new X509Certificate(match[0]);
  } catch {
    return undefined;
  }
}
