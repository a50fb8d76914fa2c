// No Node built-ins here: the rotation workflow imports this module into Temporal's deterministic sandbox.
import { MAX_PINS, type Pin, type PinRole } from './types';

export type PlanErrorCode = 'LOCKOUT_GUARD' | 'ALREADY_PINNED' | 'TOO_MANY_PINS' | 'DUPLICATE_PIN';

/** A pin set that must not be applied; `code` says why. Not retryable: the inputs need to change. */
export class PlanError extends Error {
  override readonly name = 'PlanError';
  constructor(
    readonly code: PlanErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Same pinned certificate: both digests equal. */
export function samePin(a: Pin, b: Pin): boolean {
  return a.sha256Spki === b.sha256Spki && a.sha256Certificate === b.sha256Certificate;
}

function describe(pin: Pin, index: number): string {
  return `${pin.role} pin #${index + 1}`;
}

/**
 * Refuses pin sets the platform refuses (DESIGN.md §2): more than MAX_PINS pins (TOO_MANY_PINS), or
 * two pins sharing either digest (DUPLICATE_PIN): the same certificate twice, or two certificates with
 * one key, which would make the two pins indistinguishable under pin-sha256.
 */
export function assertPinSet(pins: readonly Pin[]): void {
  if (pins.length > MAX_PINS) {
    throw new PlanError('TOO_MANY_PINS', `pin set would have ${pins.length} pins; at most ${MAX_PINS} are allowed`);
  }
  for (let i = 0; i < pins.length; i++) {
    for (let j = i + 1; j < pins.length; j++) {
      const a = pins[i];
      const b = pins[j];
      if (a.sha256Certificate === b.sha256Certificate) {
        throw new PlanError('DUPLICATE_PIN', `${describe(a, i)} and ${describe(b, j)} pin the same certificate`);
      }
      if (a.sha256Spki === b.sha256Spki) {
        throw new PlanError(
          'DUPLICATE_PIN',
          `${describe(a, i)} and ${describe(b, j)} pin certificates with the same public key; rotate to a new key`,
        );
      }
    }
  }
}

function withRole(pin: Pin, role: PinRole): Pin {
  return { ...pin, role };
}

/** Lockout guard: every certificate pinned as primary today must still be pinned by the plan. */
function assertNoLockout(current: readonly Pin[], planned: readonly Pin[], action: string): void {
  for (const today of current.filter((p) => p.role === 'primary')) {
    if (!planned.some((p) => samePin(p, today))) {
      throw new PlanError(
        'LOCKOUT_GUARD',
        `${action} would drop the pin of a certificate in use today (primary, serial ${today.serialNumber}); refusing`,
      );
    }
  }
}

/**
 * The pin set after a rotation (DESIGN.md §4 preflight): the new leaf becomes `primary`, today's
 * primary becomes `fallback` so clients with the old certificate keep working during the overlap,
 * an existing `backup` is kept and the previous fallback is dropped. Throws PlanError:
 * ALREADY_PINNED (the new certificate is today's primary), LOCKOUT_GUARD (a certificate in use today
 * would lose its pin, e.g. a malformed set with two primaries), TOO_MANY_PINS, DUPLICATE_PIN (e.g.
 * the new certificate is the backup, or reuses today's key).
 */
export function planRotation(current: readonly Pin[], newPrimary: Pin): Pin[] {
  const primaries = current.filter((p) => p.role === 'primary');
  const backups = current.filter((p) => p.role === 'backup');
  if (primaries.some((p) => p.sha256Certificate === newPrimary.sha256Certificate)) {
    throw new PlanError('ALREADY_PINNED', 'the new certificate is already the primary pin; nothing to rotate');
  }
  const planned: Pin[] = [withRole(newPrimary, 'primary')];
  if (primaries.length > 0) planned.push(withRole(primaries[0], 'fallback'));
  for (const backup of backups) planned.push(withRole(backup, 'backup'));
  assertNoLockout(current, planned, 'rotation');
  assertPinSet(planned);
  return planned;
}

/**
 * The pin set once the overlap is over: primary (and backup) only. Dropping the fallback, the old
 * certificate, is the point of finalizing; a set without exactly one primary is refused (LOCKOUT_GUARD).
 */
export function planFinalize(current: readonly Pin[]): Pin[] {
  const primaries = current.filter((p) => p.role === 'primary');
  if (primaries.length === 0) {
    throw new PlanError('LOCKOUT_GUARD', 'pin set has no primary pin; finalizing would leave no certificate pinned');
  }
  if (primaries.length > 1) {
    // The platform accepts one primary; choosing which one to drop could lock a client out.
    throw new PlanError('LOCKOUT_GUARD', `pin set has ${primaries.length} primary pins; refusing to choose which certificate to drop`);
  }
  const planned = [...primaries, ...current.filter((p) => p.role === 'backup')].map((p) => ({ ...p }));
  assertPinSet(planned);
  return planned;
}

function pinKey(pin: Pin): string {
  return `${pin.role}|${pin.sha256Spki}|${pin.sha256Certificate}`;
}

/** Same pins regardless of order: role and both digests (metadata such as subject is not compared). */
export function pinsEqual(a: readonly Pin[], b: readonly Pin[]): boolean {
  if (a.length !== b.length) return false;
  const left = a.map(pinKey).sort();
  const right = b.map(pinKey).sort();
  return left.every((key, i) => key === right[i]);
}

/**
 * Share of planned pins (role and both digests) found in `actual`, 0..1. Extra pins in `actual` do not
 * lower it; pinsEqual answers "exactly". An empty plan matches only an empty actual set.
 */
export function pinMatchRate(planned: readonly Pin[], actual: readonly Pin[]): number {
  if (planned.length === 0) return actual.length === 0 ? 1 : 0;
  const available = new Map<string, number>();
  for (const pin of actual) available.set(pinKey(pin), (available.get(pinKey(pin)) ?? 0) + 1);
  let found = 0;
  for (const pin of planned) {
    const left = available.get(pinKey(pin)) ?? 0;
    if (left > 0) {
      found++;
      available.set(pinKey(pin), left - 1);
    }
  }
  return found / planned.length;
}
