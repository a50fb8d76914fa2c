import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CaState, IssuedKeyRecord } from './ca';
import type { ClientRecord } from './platform';

/** The one file the emulator keeps in its data directory. It holds secrets: mode 0600, directory 0700. */
export const STATE_FILE = 'emulator-state.json';
const FORMAT = 1;
/** Writes are coalesced: a burst of PATCHes costs one write. `close()` flushes. */
const SAVE_DELAY_MS = 100;

export interface StoredState {
  format: typeof FORMAT;
  ca: CaState;
  adminToken: string;
  pkiToken: string;
  pkiSecret: string;
  ports: { port: number; mtlsPort: number };
  clients: ClientRecord[];
  issued: IssuedKeyRecord[];
  processedKeys: Array<[string, number]>;
}

/**
 * State that survives a restart (DESIGN.md §7: `pinrotate dev` keeps the emulator's CA and clients): the CA with
 * its key, the clients with their versions, the admin and PKI secrets, the ports, the keys the CA issued and the
 * webhook keys already processed. Telemetry, deliveries, faults and access tokens start empty.
 */
export class EmulatorStore {
  readonly file: string;
  private timer: NodeJS.Timeout | undefined;
  private snapshot: (() => StoredState) | undefined;

  constructor(readonly dir: string) {
    if (existsSync(dir) && !statSync(dir).isDirectory()) throw new Error(`emulator data directory ${dir} exists and is not a directory`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    this.file = join(dir, STATE_FILE);
  }

  /** The saved state, or undefined when there is none yet. Throws naming the file when it cannot be read. */
  load(): StoredState | undefined {
    if (!existsSync(this.file)) return undefined;
    chmodSync(this.file, 0o600);
    let parsed: Partial<StoredState>;
    try {
      parsed = JSON.parse(readFileSync(this.file, 'utf8')) as Partial<StoredState>;
    } catch (err) {
      throw new Error(`emulator state ${this.file} is not valid JSON (${(err as Error).message}); move it away to start afresh`);
    }
    if (parsed.format !== FORMAT || !parsed.ca || typeof parsed.adminToken !== 'string' || !Array.isArray(parsed.clients)) {
      throw new Error(`emulator state ${this.file} is not in the expected format ${FORMAT}; move it away to start afresh`);
    }
    return { issued: [], processedKeys: [], ports: { port: 0, mtlsPort: 0 }, ...parsed } as StoredState;
  }

  /** Where save() reads the current state from. */
  bind(snapshot: () => StoredState): void {
    this.snapshot = snapshot;
  }

  /** Saves soon (coalesced). */
  save(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, SAVE_DELAY_MS);
    this.timer.unref();
  }

  /** Saves now: written to a temporary file (0600) and renamed over the old one, so a crash never leaves half a file. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.snapshot) return;
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.snapshot()), { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, this.file);
  }
}
