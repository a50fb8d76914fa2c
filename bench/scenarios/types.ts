import type { WorkerTuning } from '../../src/worker';
import type { Log, Temporal } from '../stack';

export type Row = Record<string, string | number>;

export interface Target {
  scenario: string;
  target: string;
  measured: string;
  met: boolean;
}

export interface ScenarioResult {
  scenario: string;
  tables: Array<{ title: string; rows: Row[] }>;
  targets: Target[];
  notes: string[];
  /** Raw measurements, for the JSON file. */
  details: unknown;
}

export interface BenchContext {
  quick: boolean;
  /** Set for scenarios that need a server (not `pins`). */
  temporal?: Temporal;
  /** Extra dynamic config the shared dev server runs with (`--dynamic-config`). */
  serverArgs: string[];
  /** Another dev server with these extra arguments (a scenario that compares server settings side by side). */
  startTemporal(serverArgs: string[], opts?: { taskQueuePartitions?: number }): Promise<Temporal>;
  log: Log;
  logLevel: string;
  /** `file` (one pre-issued certificate; keeps RSA key generation out of the numbers) or `emulator-ca`. */
  certSource: 'file' | 'emulator-ca';
  tuning?: WorkerTuning;
  cpuProfDir?: string;
  overrides: { sizes?: number[]; clients?: number; limit?: number; concurrency?: number; rotations?: number };
}

export const round = (n: number, digits = 1): number => (Number.isFinite(n) ? Math.round(n * 10 ** digits) / 10 ** digits : Number.NaN);
export const mb = (bytes: number): number => round(bytes / 1024 / 1024, 1);
