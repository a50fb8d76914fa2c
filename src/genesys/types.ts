import type { Pin } from '../pins/types';

/** The OAuth client as the architecture gateway returns it (DESIGN.md §2), reduced to what rotation reads. */
export interface OAuthClientState {
  id: string;
  name: string;
  state: string;
  mtlsRequired: boolean;
  certificateChain: string;
  pins: Pin[];
  version: number;
  dateModified?: string;
}

export interface ClientPatch {
  version: number;
  certificateChain?: string;
  mtlsRequired?: boolean;
  pins?: Pin[];
}

/** The `inin-ratelimit-*` headers of the last response, for pacing. */
export interface RateLimitInfo {
  count: number;
  allowed: number;
  resetSeconds: number;
}

/** What the rest of the code needs from the platform; the SDK adapter implements it, tests may fake it. */
export interface PlatformPort {
  getClient(clientId: string): Promise<OAuthClientState>;
  patchClient(clientId: string, patch: ClientPatch): Promise<OAuthClientState>;
  listClients?(pageNumber: number, pageSize: number): Promise<ClientPage>;
  /** The gateway's handshake telemetry since `sinceIso` (DESIGN.md §2). Optional so fakes need not have it. */
  getHandshakes?(clientId: string, sinceIso: string): Promise<HandshakeSummary>;
}

/** Accepted handshakes of one pin (matched by SPKI) in a HandshakeSummary. */
export interface PinHandshakes {
  role: Pin['role'];
  sha256Spki: string;
  sha256Certificate: string;
  accepted: number;
  /** ISO time of the last accepted handshake on this pin. */
  lastSeen: string;
}

/** `GET /api/v2/oauth/clients/{id}/handshakes?since=ISO` (DESIGN.md §2, fixed). */
export interface HandshakeSummary {
  clientId: string;
  since: string;
  until: string;
  accepted: number;
  rejected: number;
  byPin: PinHandshakes[];
  /** ISO time of the last rejected handshake in the window; null when none. */
  rejectedLastSeen: string | null;
}

/** One page of `GET /api/v2/oauth/clients`. */
export interface ClientPage {
  entities: OAuthClientState[];
  pageNumber: number;
  pageCount: number;
  total: number;
}
