import { X509Certificate } from 'node:crypto';
import type { AuditRecord, AuditSink } from '../../src/activities/audit';
import type { ActivityDeps } from '../../src/activities';
import type { PkiEventBody, PkiNotifier } from '../../src/activities/pki';
import { EmulatorCa } from '../../src/emulator/ca';
import { FailureType, PlatformError } from '../../src/genesys/errors';
import type { ClientPatch, OAuthClientState, PlatformPort } from '../../src/genesys/types';
import { describeCertificate, pinFromInfo } from '../../src/pins/digest';
import type { Pin } from '../../src/pins/types';

/** An in-memory platform with the gateway's version rule (409 on a stale version) and injectable 409s. */
export class FakePlatform implements PlatformPort {
  readonly clients = new Map<string, OAuthClientState>();
  readonly patches: Array<{ clientId: string; patch: ClientPatch }> = [];
  /** The next N PATCHes of a client answer 409 whatever their version (another writer got there first). */
  readonly conflicts = new Map<string, number>();

  seed(client: Omit<OAuthClientState, 'version' | 'name' | 'state'> & Partial<OAuthClientState>): void {
    this.clients.set(client.id, { name: `client ${client.id}`, state: 'active', version: 1, ...client });
  }

  async getClient(clientId: string): Promise<OAuthClientState> {
    const c = this.clients.get(clientId);
    if (!c) throw new PlatformError(`no client ${clientId}`, { type: FailureType.NotFound, status: 404 });
    return structuredClone(c);
  }

  async patchClient(clientId: string, patch: ClientPatch): Promise<OAuthClientState> {
    this.patches.push({ clientId, patch: structuredClone(patch) });
    const c = this.clients.get(clientId);
    if (!c) throw new PlatformError(`no client ${clientId}`, { type: FailureType.NotFound, status: 404 });
    const injected = this.conflicts.get(clientId) ?? 0;
    if (injected > 0 || patch.version !== c.version) {
      if (injected > 0) {
        this.conflicts.set(clientId, injected - 1);
        c.version += 1; // the other writer's write
      }
      throw new PlatformError('version conflict', { type: FailureType.VersionConflict, status: 409 });
    }
    Object.assign(c, {
      version: c.version + 1,
      ...(patch.certificateChain !== undefined ? { certificateChain: patch.certificateChain } : {}),
      ...(patch.pins !== undefined ? { pins: structuredClone(patch.pins) } : {}),
    });
    return structuredClone(c);
  }
}

export class FakePki implements PkiNotifier {
  readonly events: PkiEventBody[] = [];
  async notify(body: PkiEventBody): Promise<{ status: number }> {
    this.events.push(body);
    return { status: 200 };
  }
}

export class FakeAudit implements AuditSink {
  readonly records: AuditRecord[] = [];
  async write(record: AuditRecord): Promise<boolean> {
    if (this.records.some((r) => r.workflowId === record.workflowId && r.runId === record.runId)) return false;
    this.records.push(record);
    return true;
  }
}

/** A CA like the emulator's and certificates from it, with the pin a client would carry. */
export class TestPki {
  readonly ca = new EmulatorCa();

  issue(commonName: string, days = 90): { certificatePem: string; pin: Pin } {
    const { certificatePem } = this.ca.issue({ commonName, days });
    return { certificatePem, pin: pinFromInfo(describeCertificate(new X509Certificate(certificatePem)), 'primary') };
  }
}

export interface FakeWorld {
  platform: FakePlatform;
  pki: FakePki;
  audit: FakeAudit;
  certs: TestPki;
  deps: ActivityDeps;
}

export function fakeWorld(): FakeWorld {
  const platform = new FakePlatform();
  const pki = new FakePki();
  const audit = new FakeAudit();
  const certs = new TestPki();
  const deps: ActivityDeps = {
    platform,
    pki,
    audit,
    certificates: { trustPem: certs.ca.certificatePem, expectedIssuer: 'GenesysCloudArchitectureCA', minRemainingMs: 7 * 86_400_000 },
  };
  return { platform, pki, audit, certs, deps };
}

/** Seeds an active, mTLS-required client pinned to a fresh certificate; returns that and the next one. */
export function seedRotatable(world: FakeWorld, id: string): { current: ReturnType<TestPki['issue']>; next: ReturnType<TestPki['issue']> } {
  const current = world.certs.issue(id);
  const next = world.certs.issue(id);
  world.platform.seed({ id, mtlsRequired: true, certificateChain: current.certificatePem, pins: [current.pin] });
  return { current, next };
}
