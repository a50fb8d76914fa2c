import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { JsonlAuditSink, type AuditRecord } from '../../src/activities/audit';

function record(runId: string): AuditRecord {
  return {
    timestamp: new Date(0).toISOString(),
    clientId: 'c1',
    serviceId: 'c1',
    workflowId: 'pin-rotation-c1',
    runId,
    pins: [],
    latencyMs: 1,
    pinMatchRate: 1,
    status: 'finalized',
    errorCode: null,
  };
}

function lines(path: string): AuditRecord[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as AuditRecord];
      } catch {
        return [];
      }
    });
}

describe('audit sink', () => {
  test('sinks that share a file (workers on one host) write each run once, however they race', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'audit-')), 'logs', 'audit.jsonl');
    // Separate instances know nothing of each other's writes, as separate processes would.
    const sinks = Array.from({ length: 4 }, () => new JsonlAuditSink(path));
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => sinks[i % sinks.length].write(record(`run-${i % 10}`))),
    );
    assert.equal(results.filter(Boolean).length, 10, 'ten distinct runs written once each');
    const written = lines(path);
    assert.equal(written.length, 10);
    assert.deepEqual(new Set(written.map((r) => r.runId)).size, 10);
    // A later retry of any of them, by any sink, is recognised.
    assert.equal(await new JsonlAuditSink(path).write(record('run-3')), false);
    assert.equal(statSync(path).mode & 0o777, 0o600);
  });

  test('a torn last line from a crash is skipped and the next record starts its own line', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'audit-')), 'audit.jsonl');
    const sink = new JsonlAuditSink(path);
    assert.equal(await sink.write(record('a')), true);
    appendFileSync(path, '{"workflowId":"pin-rotation-c1","ru');
    assert.equal(await new JsonlAuditSink(path).write(record('b')), true);
    assert.deepEqual(
      lines(path).map((r) => r.runId),
      ['a', 'b'],
    );
    assert.equal(await sink.write(record('b')), false, 'the first sink sees the other writer\'s line');
  });
});
