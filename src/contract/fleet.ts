import type { RotationInput } from './rotation';

/**
 * The fleet rotation's contract, shared by the workflow (src/workflows/fleet.ts), the CLI and any other client.
 */

export const DEFAULT_FLEET_OVERLAP = '7d';
/** Children per run before continue-as-new: about 15 history events and a few KiB of payload each. */
export const DEFAULT_CONTINUE_AS_NEW_EVERY = 200;
export const DEFAULT_PAGE_SIZE = 100;
/** The failure list is capped (its counts never are) so progress, history and carry-over stay small. */
export const DEFAULT_MAX_FAILURES = 200;
/** The server refuses more than 2000 pending children per workflow by default; stay well below. */
export const MAX_CONCURRENCY = 500;

export const CERT_SOURCE_PATTERN = /^(emulator-ca|file:.+|https:\/\/\S+)$/;

export type FleetOutcome = 'finalized' | 'rotated' | 'rolled_back' | 'refused' | 'failed' | 'skipped' | 'dry_run';
export const FLEET_OUTCOMES: readonly FleetOutcome[] = ['finalized', 'rotated', 'rolled_back', 'refused', 'failed', 'skipped', 'dry_run'];

/** Why a client was skipped without a rotation. The first two are expected under `--all`. */
export type SkipReason = 'CLIENT_NOT_ACTIVE' | 'MTLS_NOT_REQUIRED' | 'ALREADY_RUNNING' | 'INVALID_CLIENT_ID';
export const EXPECTED_SKIPS: readonly string[] = ['CLIENT_NOT_ACTIVE', 'MTLS_NOT_REQUIRED'];

export interface FleetClient {
  clientId: string;
  /** Overrides the fleet's certificate source for this client. */
  certSource?: string;
  /** Overrides the fleet's service id for this client. */
  serviceId?: string;
}

export interface FleetFailure {
  clientId: string;
  status: FleetOutcome;
  code: string;
  message: string;
}

export interface FleetListing {
  /** The next page of `listClients` to read (1-based). */
  nextPage: number;
  pageCount: number | null;
  /** Clients on the platform (before the prefix filter), from the last page read. */
  platformTotal: number | null;
  scanned: number;
  complete: boolean;
  error?: { code: string; message: string };
}

/** What one run hands the next through continue-as-new, besides the remaining clients. */
export interface FleetCarry {
  startedAt: string;
  runs: number;
  discovered: number;
  byStatus: Record<FleetOutcome, number>;
  skippedBy: Record<string, number>;
  failures: FleetFailure[];
  failuresOmitted: number;
  maxRunning: number;
  listing?: FleetListing;
  /** Children live (overlap/drain) that this run did not see end: the next run follows them by their signals. */
  following?: FleetFollowed[];
  /** Children that went live so far (finalized ones included). */
  wentLive?: number;
  /** Sum of the times from start to live, for the estimate. */
  liveMsTotal?: number;
}

/** A live child the fleet follows through drain and finalize. */
export interface FleetFollowed {
  clientId: string;
  liveAt: string;
}

export interface FleetInput {
  /** The clients to rotate; with `all`, the clients already listed but not yet started (carry-over). */
  clients?: FleetClient[];
  /** Page through every client on the platform; only active, mTLS-required ones are rotated. */
  all?: boolean;
  /** With `all`: only clients whose id starts with this. */
  idPrefix?: string;
  /** `file:PATH` (on the worker), `https://…` or `emulator-ca`. No default: each client needs its own or this one. */
  certSource?: string;
  /** At most this many child rotations in flight. */
  concurrency: number;
  /** Each child's overlap; default `7d`. A child holds its slot until it is live (or ends), not through its overlap. */
  overlap?: string;
  /** Passed to every child (RotationInput). */
  finalizePolicy?: RotationInput['finalizePolicy'];
  drainQuiet?: string;
  maxOverlap?: string;
  serviceId?: string;
  dryRun?: boolean;
  retry?: RotationInput['retry'];
  pageSize?: number;
  continueAsNewEvery?: number;
  maxFailures?: number;
  /** Set by the workflow itself when it continues as new. */
  carry?: FleetCarry;
}

export type FleetState = 'running' | 'draining' | 'done' | 'cancelled';

export interface FleetProgress {
  fleetId: string;
  runId: string;
  state: FleetState;
  /** Clients known so far (queued, running, done); final once `totalFinal`. */
  total: number;
  /** False while `all` is still paging: the total can still grow. */
  totalFinal: boolean;
  done: number;
  running: number;
  queued: number;
  inFlight: string[];
  byStatus: Record<FleetOutcome, number>;
  /** Skips by reason (exact counts). */
  skippedBy: Record<string, number>;
  /** Every client that did not finalize, rotate or dry-run, up to the cap; `failuresOmitted` counts the rest. */
  failures: FleetFailure[];
  failuresOmitted: number;
  /** The most children ever in flight at once, across runs. */
  maxRunning: number;
  concurrency: number;
  startedAt: string;
  updatedAt: string;
  /** 1 + the number of continue-as-new so far. */
  runs: number;
  listing?: FleetListing;
  /** Children whose pins are live and still in overlap/drain (they hold no slot). */
  live: number;
  /** Children finalized (same as byStatus.finalized). */
  finalized: number;
  /** Children that went live so far, finalized ones included. */
  wentLive: number;
  /** Estimated time when every client is live (queued ones at the rate seen so far); null without a basis. */
  etaLive: string | null;
  /** The live children being followed (up to 50 shown). */
  following?: string[];
}

export type FleetSummary = FleetProgress & { endedAt: string };

export function emptyCounts(): Record<FleetOutcome, number> {
  return { finalized: 0, rotated: 0, rolled_back: 0, refused: 0, failed: 0, skipped: 0, dry_run: 0 };
}

/** Exit 0 territory: every client finalized, rotated, dry-ran or was skipped for being inactive / mTLS-off. */
export function fleetSucceeded(p: Pick<FleetProgress, 'state' | 'total' | 'done' | 'totalFinal' | 'byStatus' | 'skippedBy' | 'listing'>): boolean {
  if (p.state !== 'done' || !p.totalFinal || p.done !== p.total || p.listing?.error) return false;
  if (p.byStatus.rolled_back + p.byStatus.refused + p.byStatus.failed > 0) return false;
  return Object.entries(p.skippedBy).every(([reason, n]) => n === 0 || EXPECTED_SKIPS.includes(reason));
}
