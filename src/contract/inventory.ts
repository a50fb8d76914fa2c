import { defineQuery } from '@temporalio/workflow';
import type { PinRole } from '../pins/types';
import type { RotationInput } from './rotation';

/**
 * The fleet inventory's contract: what the `pinInventory` workflow reads from the platform (every client and its
 * pins, never a chain), what it answers, and the schedule that refreshes the fleet's metrics. Pure.
 */

export const INVENTORY_WORKFLOW_TYPE = 'pinInventory';
/** The one schedule that refreshes the inventory metrics of every client (DESIGN.md §4 Ids: no `/`). */
export const INVENTORY_SCHEDULE_ID = 'pin-inventory';
export const INVENTORY_ID_PREFIX = 'pin-inventory-';
export const DEFAULT_INVENTORY_EVERY = '15m';
export const DEFAULT_INVENTORY_PAGE_SIZE = 100;
/** The platform answers at most this many clients a page. */
export const MAX_INVENTORY_PAGE_SIZE = 500;
/** Clients handed to a client per `inventoryClients` query answer: keeps each answer far below gRPC's 4 MiB. */
export const MAX_INVENTORY_QUERY_LIMIT = 1000;

/** A pin as the inventory shows it: who the certificate names and when it expires; digests kept for joins. */
export interface InventoryPin {
  role: PinRole;
  subject: string;
  notAfter: string;
  serialNumber: string;
  sha256Spki: string;
}

/** One client of the platform, without its chain (history stays small). */
export interface InventoryClientEntry {
  id: string;
  name: string;
  state: string;
  mtlsRequired: boolean;
  pins: InventoryPin[];
}

export interface InventoryPageInput {
  pageNumber: number;
  pageSize: number;
  /** Only clients whose primary pin expires before this (ISO 8601); all clients without it. */
  expiringBefore?: string;
}

export interface InventoryPage {
  /** The page's clients (after the `expiringBefore` filter). */
  clients: InventoryClientEntry[];
  /** Clients the page held before filtering. */
  scanned: number;
  pageNumber: number;
  pageCount: number;
  total: number;
}

export interface InventoryInput {
  pageSize?: number;
  /** Only clients whose primary pin expires before this (ISO 8601). */
  expiringBefore?: string;
  /**
   * Refresh the worker's fleet metrics instead of listing: one activity pages through every client, reads Temporal's
   * visibility and records the snapshot (the schedule `pin-inventory` runs this way). Nothing but a summary enters
   * history.
   */
  record?: { validForSeconds: number };
  /** Retry tuning of the activities (tests keep these tiny). */
  retry?: RotationInput['retry'];
}

export interface InventoryProgress {
  state: 'listing' | 'recording' | 'done' | 'failed';
  pagesRead: number;
  /** Null until the first page says how many there are. */
  pageCount: number | null;
  scanned: number;
  listed: number;
  total: number | null;
  error?: { code: string; message: string };
}

/** What the `record` mode measured (the counts the alerts need) and when. */
export interface InventoryRecordSummary {
  takenAt: string;
  clients: number;
  pages: number;
  pins: number;
  rotationsRunning: number;
  rotationsAwaitingApproval: number;
  rotationsDraining: number;
  rotationsFailedLastDay: number;
  schedules: number;
  /** 429s the activity waited out (after Retry-After) while paging. */
  rateLimitedWaits: number;
  validForSeconds: number;
}

export interface InventoryResult {
  takenAt: string;
  complete: boolean;
  progress: InventoryProgress;
  /** Set in `record` mode. */
  recorded?: InventoryRecordSummary;
}

/** Where a listing stands: pages read of how many, clients listed. */
export const inventoryProgressQuery = defineQuery<InventoryProgress>('progress');
/** The clients listed so far, `limit` (≤ 1000) from `offset`; answered on a closed run too (by replay). */
export const inventoryClientsQuery = defineQuery<{ clients: InventoryClientEntry[]; offset: number; total: number }, [{ offset: number; limit: number }]>('clients');

/** The workflow id of a listing run: unique per call, under a prefix an operator can search for. */
export function inventoryListWorkflowId(suffix: string): string {
  return `${INVENTORY_ID_PREFIX}list-${suffix}`;
}

/** The scheduled refresh's runs (the server appends the scheduled time). */
export const INVENTORY_SCHEDULED_WORKFLOW_ID = `${INVENTORY_ID_PREFIX}scheduled`;

/** RotationStatus values (phase while running, outcome once ended) that `pinrotate list --status` accepts. */
export const ROTATION_STATUS_VALUES = [
  'preflight',
  'awaiting_approval',
  'applying',
  'verifying',
  'syncing',
  'overlap',
  'draining',
  'finalizing',
  'compensating',
  'finalized',
  'rotated',
  'rolled_back',
  'refused',
  'dry_run',
  'failed',
] as const;
