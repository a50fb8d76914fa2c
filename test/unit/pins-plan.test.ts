import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { formatDuration, parseDuration } from '../../src/pins/duration';
import { assertPinSet, pinMatchRate, pinsEqual, planFinalize, planRotation, PlanError, type PlanErrorCode } from '../../src/pins/plan';
import { MAX_PINS, type Pin, type PinRole } from '../../src/pins/types';

const digest = (seed: string): string => createHash('sha256').update(seed).digest('base64');

/** A pin for certificate `name` with key `key` (defaults to a key of its own). */
function pin(name: string, role: PinRole = 'primary', key = name): Pin {
  return {
    role,
    sha256Spki: digest(`key:${key}`),
    sha256Certificate: digest(`cert:${name}`),
    notAfter: '2030-01-01T00:00:00.000Z',
    serialNumber: createHash('sha1').update(name).digest('hex').toUpperCase(),
    subject: `CN=${name}`,
  };
}

function planError(fn: () => unknown, code: PlanErrorCode): PlanError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof PlanError, String(err));
    assert.equal(err.code, code, err.message);
    assert.equal(err.name, 'PlanError');
    return err;
  }
  assert.fail(`expected ${code}`);
}

const summary = (pins: Pin[]): string[] => pins.map((p) => `${p.role}:${p.subject}`);

describe('planRotation', () => {
  it('new leaf → primary, current primary → fallback, backup kept, old fallback dropped', () => {
    const current = [pin('old', 'primary'), pin('older', 'fallback'), pin('spare', 'backup')];
    const planned = planRotation(current, pin('new', 'primary'));
    assert.deepEqual(summary(planned), ['primary:CN=new', 'fallback:CN=old', 'backup:CN=spare']);
    assert.equal(planned[1].sha256Certificate, current[0].sha256Certificate);
    assert.equal(current[0].role, 'primary', 'the input is not mutated');
  });

  it('first pinning: no current pins gives the primary alone', () => {
    assert.deepEqual(summary(planRotation([], pin('new', 'fallback'))), ['primary:CN=new']);
  });

  it('without a backup: primary and fallback', () => {
    assert.deepEqual(summary(planRotation([pin('old'), pin('older', 'fallback')], pin('new'))), ['primary:CN=new', 'fallback:CN=old']);
  });

  it('rotating back to the previous certificate (today\'s fallback) is allowed', () => {
    assert.deepEqual(summary(planRotation([pin('b'), pin('a', 'fallback')], pin('a'))), ['primary:CN=a', 'fallback:CN=b']);
  });

  it('ALREADY_PINNED when the new certificate is today\'s primary', () => {
    planError(() => planRotation([pin('same'), pin('spare', 'backup')], pin('same')), 'ALREADY_PINNED');
  });

  it('DUPLICATE_PIN when the new certificate is the backup or reuses a pinned key', () => {
    planError(() => planRotation([pin('old'), pin('spare', 'backup')], pin('spare')), 'DUPLICATE_PIN');
    const err = planError(() => planRotation([pin('old')], pin('renewed', 'primary', 'old')), 'DUPLICATE_PIN');
    assert.match(err.message, /same public key/);
  });

  it('TOO_MANY_PINS rather than silently dropping a second backup', () => {
    const current = [pin('old'), pin('spare1', 'backup'), pin('spare2', 'backup')];
    planError(() => planRotation(current, pin('new')), 'TOO_MANY_PINS');
  });

  it('LOCKOUT_GUARD when a certificate in use today would lose its pin', () => {
    // A malformed set with two primaries: only one can become the fallback.
    planError(() => planRotation([pin('a'), pin('b')], pin('new')), 'LOCKOUT_GUARD');
  });

  it('property: a plan has ≤ MAX_PINS pins, no duplicate digest, the new primary and today\'s primary', () => {
    const name = fc.constantFrom('a', 'b', 'c', 'd', 'e');
    const role = fc.constantFrom<PinRole>('primary', 'fallback', 'backup');
    const arbPin = fc.tuple(name, role, fc.boolean()).map(([n, r, shareKey]) => pin(n, r, shareKey ? 'shared' : n));
    fc.assert(
      fc.property(fc.array(arbPin, { maxLength: 4 }), arbPin, (current, next) => {
        let planned: Pin[];
        try {
          planned = planRotation(current, next);
        } catch (err) {
          assert.ok(err instanceof PlanError);
          return;
        }
        assert.ok(planned.length <= MAX_PINS);
        assert.doesNotThrow(() => assertPinSet(planned));
        assert.equal(planned.filter((p) => p.role === 'primary').length, 1);
        assert.equal(planned[0].sha256Certificate, next.sha256Certificate);
        for (const today of current.filter((p) => p.role === 'primary')) {
          assert.ok(planned.some((p) => p.sha256Certificate === today.sha256Certificate), 'lockout');
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('planFinalize', () => {
  it('keeps primary and backup, drops the fallback', () => {
    const current = [pin('new'), pin('old', 'fallback'), pin('spare', 'backup')];
    assert.deepEqual(summary(planFinalize(current)), ['primary:CN=new', 'backup:CN=spare']);
    assert.deepEqual(summary(planFinalize([pin('old', 'fallback'), pin('new')])), ['primary:CN=new']);
  });

  it('LOCKOUT_GUARD without exactly one primary; DUPLICATE_PIN for a malformed set', () => {
    planError(() => planFinalize([pin('old', 'fallback')]), 'LOCKOUT_GUARD');
    planError(() => planFinalize([]), 'LOCKOUT_GUARD');
    planError(() => planFinalize([pin('a'), pin('b')]), 'LOCKOUT_GUARD');
    planError(() => planFinalize([pin('x'), pin('x', 'backup')]), 'DUPLICATE_PIN');
  });
});

describe('assertPinSet', () => {
  it('refuses more than MAX_PINS and duplicate digests', () => {
    planError(() => assertPinSet([pin('a'), pin('b', 'fallback'), pin('c', 'backup'), pin('d', 'backup')]), 'TOO_MANY_PINS');
    planError(() => assertPinSet([pin('a'), pin('a', 'fallback')]), 'DUPLICATE_PIN');
    assert.doesNotThrow(() => assertPinSet([pin('a'), pin('b', 'fallback'), pin('c', 'backup')]));
  });
});

describe('pinsEqual and pinMatchRate', () => {
  const planned = [pin('new'), pin('old', 'fallback'), pin('spare', 'backup')];

  it('pinsEqual ignores order and metadata, not roles or digests', () => {
    assert.ok(pinsEqual(planned, [...planned].reverse()));
    assert.ok(pinsEqual(planned, planned.map((p) => ({ ...p, subject: 'changed', notAfter: 'x' }))));
    assert.ok(!pinsEqual(planned, planned.slice(0, 2)));
    assert.ok(!pinsEqual(planned, [pin('new'), pin('old', 'backup'), pin('spare', 'backup')]));
    assert.ok(!pinsEqual(planned, [pin('new'), pin('old', 'fallback'), { ...pin('spare', 'backup'), sha256Spki: digest('other') }]));
    assert.ok(pinsEqual([], []));
  });

  it('pinMatchRate is the share of planned pins present', () => {
    assert.equal(pinMatchRate(planned, planned), 1);
    assert.equal(pinMatchRate(planned, [...planned, pin('extra', 'backup')]), 1);
    assert.equal(pinMatchRate(planned, [pin('new'), pin('spare', 'backup')]), 2 / 3);
    assert.equal(pinMatchRate(planned, [pin('new')]), 1 / 3);
    assert.equal(pinMatchRate(planned, []), 0);
    assert.equal(pinMatchRate([pin('a'), pin('a')], [pin('a')]), 0.5, 'each actual pin counts once');
    assert.equal(pinMatchRate([], []), 1);
    assert.equal(pinMatchRate([], [pin('a')]), 0);
  });
});

describe('parseDuration', () => {
  it('reads the units operators use', () => {
    assert.equal(parseDuration('7d'), 7 * 86_400_000);
    assert.equal(parseDuration('12h'), 12 * 3_600_000);
    assert.equal(parseDuration('30m'), 30 * 60_000);
    assert.equal(parseDuration('45s'), 45_000);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('0s'), 0);
    assert.equal(parseDuration('2w'), 14 * 86_400_000);
    assert.equal(parseDuration('1h30m'), 90 * 60_000);
    assert.equal(parseDuration('1d12h'), 36 * 3_600_000);
  });

  it('refuses anything else', () => {
    for (const bad of ['', '7', '-1d', '1.5h', '7 d', ' 7d', '7D', 'd', '7days', '1y', 'P7D', '9'.repeat(80) + 's', '7d\n']) {
      assert.throws(() => parseDuration(bad), RangeError, JSON.stringify(bad));
    }
  });

  it('formatDuration round-trips', () => {
    assert.equal(formatDuration(0), '0s');
    assert.equal(formatDuration(7 * 86_400_000), '7d');
    assert.equal(formatDuration(90 * 60_000), '1h30m');
    fc.assert(fc.property(fc.integer({ min: 0, max: 10 * 365 * 86_400_000 }), (ms) => parseDuration(formatDuration(ms)) === ms));
  });
});
