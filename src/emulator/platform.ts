import { randomBytes } from 'node:crypto';
import { pinFromCertificate } from '../pins/digest';
import type { Pin } from '../pins/types';
import { HttpError, safeEqual } from './http-util';
import type { AdminClientInput, AdminClientState, ClientState, ClientVersion, ClientView } from './types';
import { badRequest, checkChain, checkPins, type ParsedChain, type Problem } from './validation';

/** History is for inspection in tests; a runaway loop must not grow it without bound. */
const MAX_HISTORY = 1000;
const PATCH_FIELDS = new Set(['version', 'certificateChain', 'mtlsRequired', 'pins']);

/** A client as the platform keeps it, its secret included: only persistence sees this shape. */
export interface ClientRecord {
  id: string;
  name: string;
  description: string;
  secret: string;
  state: ClientState;
  dateCreated: string;
  dateModified: string;
  mtlsRequired: boolean;
  certificateChain: string;
  pins: Pin[];
  version: number;
  versions: ClientVersion[];
}

interface TokenRecord {
  clientId: string;
  expiresAt: number;
}

/** The control plane checks the shape; pins stay unknown until the gateway's own pin rules have run. */
export type UncheckedClientInput = Omit<AdminClientInput, 'pins'> & { pins?: unknown };

export interface PlatformOptions {
  tokenTtlSeconds: number;
  now: () => number;
}

/** The gateway's state: OAuth clients with their chain, pins and version, and the access tokens granted. */
export class Platform {
  private readonly clients = new Map<string, ClientRecord>();
  private readonly tokens = new Map<string, TokenRecord>();
  private readonly listeners: Array<() => void> = [];

  constructor(private readonly options: PlatformOptions) {}

  /** Called after every write (create, replace, PATCH, reset): persistence saves then. */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** Every client with its secret and history, for the data directory only. */
  exportClients(): ClientRecord[] {
    return structuredClone([...this.clients.values()]);
  }

  /** Restores clients saved by exportClients (access tokens are not kept: callers log in again). */
  restoreClients(records: ClientRecord[]): void {
    for (const r of records) {
      if (typeof r?.id !== 'string' || typeof r.version !== 'number' || !Array.isArray(r.versions)) {
        throw new Error('the stored client list is malformed');
      }
      this.clients.set(r.id, structuredClone(r));
    }
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }

  /** Creates or replaces a client; the input's shape is already checked, its chain and pins are checked here. */
  upsertClient(input: UncheckedClientInput): ClientView {
    const problems: Problem[] = [];
    const chain = checkChain(input.certificateChain ?? '', problems);
    // DESIGN.md §7: a chain without pins gets its leaf pinned as primary.
    const pinsIn = input.pins ?? (chain?.leaf ? [pinFromCertificate(chain.leaf, 'primary')] : []);
    const pins = checkPins(pinsIn, chain?.leaf, chain !== undefined, problems);
    if (problems.length > 0 || !chain || !pins) throw badRequest(problems, input.id);
    const at = this.isoNow();
    const record: ClientRecord = {
      id: input.id,
      name: input.name,
      description: input.description ?? '',
      secret: input.secret,
      state: input.state ?? 'active',
      dateCreated: at,
      dateModified: at,
      mtlsRequired: input.mtlsRequired,
      certificateChain: chain.pem,
      pins,
      version: 1,
      versions: [],
    };
    record.versions.push(snapshot(record));
    this.clients.set(record.id, record);
    // Replacing a client replaces its credentials: tokens granted to the old one stop working.
    for (const [token, t] of this.tokens) if (t.clientId === record.id) this.tokens.delete(token);
    this.changed();
    return this.view(record);
  }

  getClient(id: string): ClientView | undefined {
    const record = this.clients.get(id);
    return record ? this.view(record) : undefined;
  }

  getClientState(id: string): AdminClientState | undefined {
    const record = this.clients.get(id);
    return record ? { ...this.view(record), versions: structuredClone(record.versions) } : undefined;
  }

  listClientIds(): string[] {
    return [...this.clients.keys()].sort();
  }

  /** Pins the mTLS endpoint should accept, or undefined for an unknown client. */
  activePins(id: string): { state: ClientState; pins: Pin[] } | undefined {
    const record = this.clients.get(id);
    return record ? { state: record.state, pins: structuredClone(record.pins) } : undefined;
  }

  /**
   * `PATCH /api/v2/oauth/clients/{id}`: 404, then every 400 problem at once, then 409 on a stale version.
   * Invariant kept on every write: a primary pin, when there is one, is the leaf of the stored chain.
   */
  patchClient(id: string, body: Record<string, unknown>): ClientView {
    const record = this.clients.get(id);
    if (!record) throw new HttpError(404, `OAuth client ${id} was not found.`);
    const problems: Problem[] = [];
    for (const key of Object.keys(body)) {
      if (!PATCH_FIELDS.has(key)) problems.push({ errorCode: 'FIELD_UNKNOWN', fieldName: key, message: 'is not a field this endpoint accepts (version, certificateChain, mtlsRequired, pins)' });
    }
    if (body.version === undefined) {
      problems.push({ errorCode: 'VERSION_MISSING', fieldName: 'version', message: 'is required for optimistic concurrency' });
    } else if (typeof body.version !== 'number' || !Number.isSafeInteger(body.version) || body.version < 1) {
      problems.push({ errorCode: 'VERSION_INVALID', fieldName: 'version', message: 'must be a positive integer' });
    }
    if (body.mtlsRequired !== undefined && typeof body.mtlsRequired !== 'boolean') {
      problems.push({ errorCode: 'FIELD_INVALID', fieldName: 'mtlsRequired', message: 'must be a boolean' });
    }
    let chain: ParsedChain | undefined;
    let chainKnown = true;
    if (body.certificateChain !== undefined) {
      chain = checkChain(body.certificateChain, problems);
      chainKnown = chain !== undefined;
    } else if (body.pins !== undefined) {
      // Pins without a chain are compared to the stored chain (which was valid when stored).
      chain = checkChain(record.certificateChain, []);
    }
    let pins: Pin[] | undefined;
    if (body.pins !== undefined) {
      pins = checkPins(body.pins, chain?.leaf, chainKnown, problems);
    } else if (chain) {
      // A new chain alone must still be led by the stored primary.
      checkPins(record.pins, chain.leaf, true, problems);
    }
    if (problems.length > 0) throw badRequest(problems, id);
    if (body.version !== record.version) {
      throw new HttpError(409, `Version ${String(body.version)} of OAuth client ${id} is stale; the current version is ${record.version}.`, {
        details: [{ errorCode: 'VERSION_CONFLICT', fieldName: 'version', entityId: id }],
      });
    }
    if (chain && body.certificateChain !== undefined) record.certificateChain = chain.pem;
    if (pins) record.pins = pins;
    if (typeof body.mtlsRequired === 'boolean') record.mtlsRequired = body.mtlsRequired;
    record.version += 1;
    record.dateModified = this.isoNow();
    record.versions.push(snapshot(record));
    if (record.versions.length > MAX_HISTORY) record.versions.splice(0, record.versions.length - MAX_HISTORY);
    this.changed();
    return this.view(record);
  }

  /**
   * Client-credentials grant; undefined when the id or secret is wrong. `state` does not block the grant:
   * tests often log in with the very client they deactivate, and the refusal belongs to the rotation.
   */
  grantToken(clientId: string, secret: string): { accessToken: string; expiresIn: number } | undefined {
    const record = this.clients.get(clientId);
    // Compare even for unknown ids so response time does not reveal which ids exist.
    const secretOk = safeEqual(record?.secret ?? '', secret);
    if (!record || !secretOk) return undefined;
    this.sweepTokens();
    const accessToken = `emu_${randomBytes(24).toString('base64url')}`;
    this.tokens.set(accessToken, { clientId, expiresAt: this.options.now() + this.options.tokenTtlSeconds * 1000 });
    return { accessToken, expiresIn: this.options.tokenTtlSeconds };
  }

  /** The client a live access token belongs to. */
  authenticate(token: string): string | undefined {
    const t = this.tokens.get(token);
    if (!t) return undefined;
    if (t.expiresAt <= this.options.now()) {
      this.tokens.delete(token);
      return undefined;
    }
    return t.clientId;
  }

  reset(): void {
    this.clients.clear();
    this.tokens.clear();
    this.changed();
  }

  private sweepTokens(): void {
    if (this.tokens.size < 10_000) return;
    const now = this.options.now();
    for (const [token, t] of this.tokens) if (t.expiresAt <= now) this.tokens.delete(token);
  }

  private isoNow(): string {
    return new Date(this.options.now()).toISOString();
  }

  private view(r: ClientRecord): ClientView {
    return {
      id: r.id,
      name: r.name,
      description: r.description,
      authorizedGrantType: 'CLIENT-CREDENTIALS',
      state: r.state,
      dateCreated: r.dateCreated,
      dateModified: r.dateModified,
      accessTokenValiditySeconds: this.options.tokenTtlSeconds,
      roleDivisions: [],
      scope: [],
      mtlsRequired: r.mtlsRequired,
      certificateChain: r.certificateChain,
      pins: structuredClone(r.pins),
      version: r.version,
      selfUri: `/api/v2/oauth/clients/${encodeURIComponent(r.id)}`,
    };
  }
}

function snapshot(r: ClientRecord): ClientVersion {
  return {
    version: r.version,
    certificateChain: r.certificateChain,
    pins: structuredClone(r.pins),
    mtlsRequired: r.mtlsRequired,
    modifiedAt: r.dateModified,
  };
}
