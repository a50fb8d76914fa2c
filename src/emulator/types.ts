/**
 * Wire shapes of the emulator: the platform contract (DESIGN.md §2), the PKI receiver (§3) and the
 * control plane (§7). Type-only, so `admin-client.ts` and tests can import them without loading the server.
 */
import type { Pin } from '../pins/types';

/**
 * One entry of ErrorBody.details. Genesys' own `Detail` shape; `errorCode` is one of DETAIL_CODES,
 * `fieldName` a path such as `pins[1].sha256Spki`, `entityId` the client id when there is one.
 */
export interface ErrorDetail {
  errorCode: string;
  fieldName: string;
  entityId?: string;
  entityName?: string;
}

/** Genesys Cloud's ErrorBody. */
export interface ErrorBody {
  message: string;
  code: string;
  status: number;
  contextId: string;
  details: ErrorDetail[];
  errors: ErrorBody[];
}

/** OAuth error shape of `POST /oauth/token`. */
export interface OAuthErrorBody {
  error: string;
  description: string;
  error_description: string;
}

export interface TokenResponse {
  access_token: string;
  token_type: 'bearer';
  expires_in: number;
}

export type ClientState = 'active' | 'inactive';

/** `GET/PATCH /api/v2/oauth/clients/{id}`: the OAuthClient fields plus the gateway's mTLS fields. Never the secret. */
export interface ClientView {
  id: string;
  name: string;
  description: string;
  authorizedGrantType: 'CLIENT-CREDENTIALS';
  state: ClientState;
  dateCreated: string;
  dateModified: string;
  accessTokenValiditySeconds: number;
  roleDivisions: unknown[];
  scope: string[];
  mtlsRequired: boolean;
  /** PEM, leaf first; '' when the client has no chain. */
  certificateChain: string;
  pins: Pin[];
  version: number;
  selfUri: string;
}

/** One write of a client, as kept in its history. */
export interface ClientVersion {
  version: number;
  certificateChain: string;
  pins: Pin[];
  mtlsRequired: boolean;
  modifiedAt: string;
}

/** `GET /__admin/clients/{id}`: the view plus every version from 1 to the current one, oldest first. */
export interface AdminClientState extends ClientView {
  versions: ClientVersion[];
}

/** `POST /__admin/clients` body. */
export interface AdminClientInput {
  id: string;
  name: string;
  secret: string;
  mtlsRequired: boolean;
  certificateChain?: string;
  pins?: Pin[];
  state?: ClientState;
  description?: string;
}

/** `POST /__admin/faults` body. `status` 0 destroys the socket (connection reset). `method` '*' matches any. */
export interface FaultSpec {
  method: string;
  pathPrefix: string;
  status: number;
  times: number;
  retryAfter?: number;
  delayMs?: number;
}

export interface QueuedFault extends FaultSpec {
  id: number;
  /** How many more requests this fault will fail. */
  remaining: number;
}

export type KeyType = 'rsa' | 'rsa-1024' | 'rsa-2048' | 'rsa-3072' | 'rsa-4096';

export interface IssueRequest {
  commonName: string;
  days?: number;
  keyType?: KeyType;
}

export interface IssuedCertificate {
  certificatePem: string;
  privateKeyPem: string;
}

export type PkiEvent = 'certificate_rotation' | 'rotation_finalized' | 'rotation_rolled_back';

/** Why the receiver refused a delivery (DESIGN.md §3). */
export type WebhookRefusal =
  | 'armed'
  | 'token'
  | 'key_missing'
  | 'key_invalid'
  | 'timestamp_missing'
  | 'timestamp_skew'
  | 'signature'
  | 'json'
  | 'event'
  | 'key_mismatch'
  | 'too_large'
  | 'timeout';

/**
 * One request received at `POST /pki/webhook`, whatever its outcome. Only deliveries whose token and signature
 * verify are kept in full; the others keep a summary (a few headers, truncated; no body).
 */
export interface WebhookDelivery {
  seq: number;
  receivedAt: string;
  /** Lower-case header names; Authorization is redacted to 'Bearer ***'. A summary keeps only the webhook's own headers, truncated. */
  headers: Record<string, string>;
  /** Parsed JSON, or the raw text when it is not JSON; null in a summary. */
  body: unknown;
  /** Bytes of the body as received (or as declared when it was not read). */
  bodyBytes?: number;
  signatureValid: boolean;
  tokenValid: boolean;
  /** `X-Signature-Timestamp` as sent, when it was a number. */
  timestamp?: number | null;
  idempotencyKey: string | null;
  duplicate: boolean;
  /** HTTP status answered; 0 when the connection was reset on purpose. */
  status: number;
  /** Set when the delivery was refused or failed on purpose. */
  refusal?: WebhookRefusal;
  /** True when only a summary was kept. */
  summary?: boolean;
}

/** `POST /__admin/webhooks/fail` body. */
export interface WebhookFailSpec {
  status: number;
  times: number;
  delayMs?: number;
}

export interface EmulatorStats {
  /** `"METHOD /normalised/{id}"` → status → count. Status "0" is a deliberate connection reset. */
  requests: Record<string, Record<string, number>>;
  tokenGrants: number;
  /** Every 429 sent, by the rate limiter or by a fault. */
  rateLimited429: number;
  faultsInjected: number;
  webhooks: {
    received: number;
    duplicates: number;
    /** Deliveries processed (first sighting of an Idempotency-Key answered 200), per event. */
    processed: Record<string, number>;
  };
}

export interface MtlsCheckResult {
  accepted: boolean;
  clientId: string;
  matchedRole?: Pin['role'];
  /** An unknown or inactive client answers like a certificate matching no pin (no enumeration). */
  reason?: 'no_client_certificate' | 'no_matching_pin';
  presented?: { subject: string; sha256Spki: string; sha256Certificate: string };
}

export type { DeployedCertificate, FieldClientSpec, FieldClientView } from './field-clients';
export type { HandshakeSummary } from './telemetry';
