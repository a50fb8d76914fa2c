import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { Failure, sameChain, type TrustedKey } from '../contract';
import { FailureType, PlatformError, toFailure } from '../genesys/errors';
import type { OAuthClientState, PlatformPort } from '../genesys/types';
import { pinFromInfo } from '../pins/digest';
import { pinsEqual } from '../pins/plan';
import type { CertificateInfo, Pin } from '../pins/types';
import { validateCertificateChain } from '../pins/validate';
import type { RotationMetrics } from '../metrics/registry';
import type { AuditRecord, AuditSink } from './audit';
import type { PkiEventBody, PkiNotifier } from './pki';
import { obtainCertificate, type CertSourceDeps } from './cert-source';
import { probeMtls, readProbeInputs, type MtlsProbeResult } from './mtls-probe';
import { createInventoryActivities, type InventoryDeps } from './inventory';
import { clearRotationGauges, readHandshakes, type HandshakeReading, type HandshakeReadingInput } from './telemetry';

export type { HandshakeReading, HandshakeReadingInput } from './telemetry';

/**
 * Every side effect of a rotation. `createActivities(deps)` closes over its dependencies so tests pass fakes
 * without module mocking; each activity classifies its own errors into typed failures (DESIGN.md §4).
 */

export interface CertificatePolicy {
  trustPem: string;
  expectedIssuer: string;
  minRemainingMs: number;
  /** CERT_IDENTITY_MAP: further names a client's leaf may carry (its id and platform name always count). */
  identityMap?: Readonly<Record<string, readonly string[]>>;
}

export interface ActivityDeps {
  platform: PlatformPort;
  pki: PkiNotifier;
  audit: AuditSink;
  certificates: CertificatePolicy;
  clock?: () => Date;
  /** The platform's mTLS check endpoint base, e.g. https://127.0.0.1:8788; probes are skipped without it. */
  mtlsUrl?: string;
  /** CA bundle that signs the mTLS endpoint's server certificate. */
  mtlsCaPem?: string;
  metrics?: RotationMetrics;
  /** Where scheduled and fleet rotations get new certificates (`file:`, `https://`, `emulator-ca`). */
  certSources?: CertSourceDeps;
  /** APPROVER_KEYS: the Ed25519 public keys approvals and signed start requests are verified with. */
  approvers?: readonly TrustedKey[];
  /** Canonical directories probe keys (and probe certificate files) may be read from (PROBE_KEY_DIR). */
  probeKeyDirs?: readonly string[];
}

export const CERTIFICATE_INVALID = Failure.CertificateInvalid;

/** Heartbeats when running as a Temporal activity (and is a no-op when the code is called directly). */
function heartbeat(details?: unknown): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    // Not inside an activity: nothing to report to.
  }
}
export const CONCURRENT_MODIFICATION = 'ConcurrentModification';

export interface ValidatedCertificate {
  certificates: CertificateInfo[];
  leafPin: Pin;
}

/**
 * Preflight's read for lean runs (docs/architecture.md, "Tasks per rotation"): the client and the new chain validated for
 * it, in one activity on the platform queue (one platform call). An invalid chain is an answer here, not a failure,
 * so the workflow refuses in the order preflight always has: client state first, then the certificate.
 */
export interface ClientAndCertificate {
  client: OAuthClientState;
  certificate?: ValidatedCertificate;
  /** CERTIFICATE_INVALID's code, message and problems, as the validateCertificate failure carries them. */
  certificateRefusal?: { code: string; message: string; problems: Array<{ code: string; message: string }> };
}

export interface RestoreInput {
  clientId: string;
  before: { certificateChain: string; pins: Pin[] };
  /** Every pin set this rotation wrote (apply, and finalize if it ran), to recognise our own writes. */
  written: Array<{ certificateChain: string; pins: Pin[] }>;
}

export interface RestoreResult {
  restored: boolean;
  client: OAuthClientState;
}

export function createActivities(deps: ActivityDeps) {
  const clock = deps.clock ?? (() => new Date());

  async function platformCall<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw toFailure(err);
    }
  }

  /** Days to expiry of the certificate a client is pinned to now (its primary pin), for the gauge. */
  function recordExpiry(client: OAuthClientState): void {
    const primary = client.pins.find((p) => p.role === 'primary');
    const notAfter = primary ? Date.parse(primary.notAfter) : Number.NaN;
    if (deps.metrics && Number.isFinite(notAfter)) {
      deps.metrics.daysToExpiry.set({ client_id: client.id }, Math.round(((notAfter - clock().getTime()) / 86_400_000) * 100) / 100);
    }
  }

  async function fetchClient(clientId: string): Promise<OAuthClientState> {
    const client = await platformCall(() => deps.platform.getClient(clientId));
    recordExpiry(client);
    return client;
  }

  /**
   * Path validation (DESIGN.md §5) and, given the client, IDENTITY_MISMATCH: the leaf must name the client id,
   * its platform name or a name CERT_IDENTITY_MAP allows for it. Runs recorded before the binding carry no clientId.
   */
  async function validateCertificate(input: { certificatePem: string; clientId?: string; clientName?: string }): Promise<ValidatedCertificate> {
    const clientId = typeof input.clientId === 'string' && input.clientId !== '' ? input.clientId : undefined;
    const result = validateCertificateChain(input.certificatePem, {
      trustPem: deps.certificates.trustPem,
      expectedIssuer: deps.certificates.expectedIssuer,
      minRemainingMs: deps.certificates.minRemainingMs,
      at: clock(),
      ...(clientId
        ? {
            identity: {
              clientId,
              ...(typeof input.clientName === 'string' && input.clientName !== '' ? { clientName: input.clientName } : {}),
              allowedNames: Object.hasOwn(deps.certificates.identityMap ?? {}, clientId) ? deps.certificates.identityMap![clientId] : [],
            },
          }
        : {}),
    });
    if (!result.valid) {
      throw ApplicationFailure.create({
        message: `${result.error.code}: ${result.error.message}`,
        type: CERTIFICATE_INVALID,
        nonRetryable: true,
        details: [{ code: result.error.code, problems: result.errors }],
      });
    }
    return { certificates: result.certificates, leafPin: pinFromInfo(result.certificates[0], 'primary') };
  }

  return {
    // The fleet inventory; the worker adds `fleet` (its Temporal client's view) to these deps.
    ...createInventoryActivities(deps as ActivityDeps & Pick<InventoryDeps, 'fleet'>),
    fetchClient,
    validateCertificate,

    async fetchClientAndValidate(input: { clientId: string; certificatePem: string }): Promise<ClientAndCertificate> {
      const client = await fetchClient(input.clientId);
      try {
        return { client, certificate: await validateCertificate({ certificatePem: input.certificatePem, clientId: input.clientId, clientName: client.name }) };
      } catch (err) {
        if (!(err instanceof ApplicationFailure) || err.type !== CERTIFICATE_INVALID) throw err;
        const detail = (err.details?.[0] ?? {}) as { code?: string; problems?: Array<{ code: string; message: string }> };
        return { client, certificateRefusal: { code: detail.code ?? 'CERTIFICATE_INVALID', message: err.message, problems: detail.problems ?? [] } };
      }
    },

    async applyPins(input: { clientId: string; version: number; certificateChain?: string; pins: Pin[] }): Promise<OAuthClientState> {
      const client = await platformCall(() =>
        deps.platform.patchClient(input.clientId, {
          version: input.version,
          ...(input.certificateChain !== undefined ? { certificateChain: input.certificateChain } : {}),
          pins: input.pins,
        }),
      );
      recordExpiry(client);
      return client;
    },

    /**
     * Compensation: puts back the chain and pins from before the rotation. Idempotent (already restored → no
     * write), and it never overwrites another writer's change: it restores only over a state this rotation wrote.
     */
    async restorePins(input: RestoreInput): Promise<RestoreResult> {
      for (let attempt = 1; ; attempt += 1) {
        heartbeat({ attempt });
        const current = await platformCall(() => deps.platform.getClient(input.clientId));
        if (sameChain(current.certificateChain, input.before.certificateChain) && pinsEqual(current.pins, input.before.pins)) {
          return { restored: false, client: current };
        }
        const ours = input.written.some((w) => sameChain(current.certificateChain, w.certificateChain) && pinsEqual(current.pins, w.pins));
        if (!ours) {
          throw ApplicationFailure.create({
            message:
              `client ${input.clientId} was changed by another writer (version ${current.version}) after this rotation applied; ` +
              'not overwriting it: restore the pins by hand (the status query shows the pre-rotation pins)',
            type: CONCURRENT_MODIFICATION,
            nonRetryable: true,
          });
        }
        try {
          const restored = await deps.platform.patchClient(input.clientId, {
            version: current.version,
            certificateChain: input.before.certificateChain,
            pins: input.before.pins,
          });
          if (!pinsEqual(restored.pins, input.before.pins)) {
            throw ApplicationFailure.create({ message: 'the platform did not keep the restored pins', type: 'RestoreNotVerified' });
          }
          recordExpiry(restored);
          return { restored: true, client: restored };
        } catch (err) {
          // Someone wrote between our read and our PATCH: read again and decide again.
          if (err instanceof PlatformError && err.type === FailureType.VersionConflict && attempt < 3) continue;
          throw toFailure(err);
        }
      }
    },

    /** The new certificate chain (certificates only) for a client from a certificate source. */
    async obtainCertificate(input: { clientId: string; source: string }): Promise<{ certificatePem: string }> {
      return { certificatePem: await obtainCertificate(input.source, input.clientId, deps.certSources ?? {}) };
    },

    /** Every client on the platform, a page at a time (for `fleet --all`). */
    async listClients(input: { pageNumber: number; pageSize: number }) {
      if (!deps.platform.listClients) {
        throw ApplicationFailure.create({ message: 'this platform adapter cannot list clients', type: 'NotSupported', nonRetryable: true });
      }
      const page = await platformCall(() => deps.platform.listClients!(input.pageNumber, input.pageSize));
      // Only what a fleet needs to decide: no chains, to keep workflow history small.
      return {
        clients: page.entities.map((c) => ({ id: c.id, state: c.state, mtlsRequired: c.mtlsRequired })),
        pageNumber: page.pageNumber,
        pageCount: page.pageCount,
        total: page.total,
      };
    },

    /** The gateway's handshake counts since Apply for the drain decision and the pin match rate (no chains). */
    async readHandshakes(input: HandshakeReadingInput): Promise<HandshakeReading> {
      return readHandshakes(deps.platform, deps.metrics, input);
    },

    /** The approver keys this worker trusts, public halves only (they may sit in workflow history). */
    async trustedApprovers(): Promise<TrustedKey[]> {
      return (deps.approvers ?? []).map((k) => ({ id: k.id, publicKey: k.publicKey }));
    },

    async notifyPki(body: PkiEventBody): Promise<{ status: number }> {
      return deps.pki.notify(body);
    },

    async writeAudit(record: AuditRecord): Promise<void> {
      const written = await deps.audit.write(record);
      clearRotationGauges(deps.metrics, record.clientId);
      // Counted once per rotation: a retried write of the same record is not a second rotation.
      if (written && deps.metrics) {
        deps.metrics.rotations.inc({ status: record.status });
        if (record.durationMs !== undefined) deps.metrics.duration.observe({ status: record.status }, record.durationMs / 1000);
      }
    },

    /**
     * mTLS handshake with a certificate against the platform's check endpoint. The private key is read here from
     * a path on the worker; it never enters the workflow, its history or a log.
     */
    async probeHandshake(input: { clientId: string; certificatePem?: string; certificatePath?: string; keyPath: string }): Promise<MtlsProbeResult> {
      if (!deps.mtlsUrl) {
        throw ApplicationFailure.create({ message: 'no mTLS endpoint configured on the worker (GENESYS_MTLS_URL)', type: 'ProbeNotConfigured', nonRetryable: true });
      }
      // The paths come from the workflow input: read only what the worker's configuration allows (mtls-probe.ts).
      const { keyPem: key, certificatePem } = await readProbeInputs(
        { keyPath: input.keyPath, certificatePem: input.certificatePem, certificatePath: input.certificatePath ?? '' },
        { keyDirs: deps.probeKeyDirs ?? [], certDirs: deps.certSources?.allowedDirs },
      );
      const cert = certificatePem!;
      heartbeat();
      return probeMtls({ baseUrl: deps.mtlsUrl, clientId: input.clientId, certificatePem: cert, keyPem: key, caPem: deps.mtlsCaPem });
    },

    /**
     * Preflight for probes: the key paths a rotation names are readable under PROBE_KEY_DIR (same rules and the same
     * refusal as probeHandshake), so a bad path is refused before Apply rather than rolled back after it.
     */
    async checkProbeInputs(input: { newKeyPath?: string; oldKeyPath?: string }): Promise<{ checked: number }> {
      let checked = 0;
      for (const keyPath of [input.newKeyPath, input.oldKeyPath]) {
        if (keyPath === undefined) continue;
        await readProbeInputs({ keyPath }, { keyDirs: deps.probeKeyDirs ?? [] });
        checked += 1;
      }
      return { checked };
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
