import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inventoryCsv, inventoryTable, joinInventory } from '../../src/cli/commands/inventory';
import type { InventoryClientEntry } from '../../src/contract';
import type { RotationRun } from '../../src/schedules/visibility';

const NOW = Date.parse('2026-06-01T00:00:00Z');
const at = (days: number) => new Date(NOW + days * 86_400_000).toISOString();

const clients: InventoryClientEntry[] = [
  { id: 'b-crm', name: 'CRM, "north"', state: 'active', mtlsRequired: true, pins: [{ role: 'primary', subject: 'CN=b-crm', notAfter: at(12.34), serialNumber: '0A', sha256Spki: 's1' }, { role: 'fallback', subject: 'CN=b-old', notAfter: at(-1.5), serialNumber: '0B', sha256Spki: 's2' }] },
  { id: 'a-erp', name: 'ERP', state: 'active', mtlsRequired: true, pins: [{ role: 'primary', subject: 'CN=a-erp\u001b[2J', notAfter: at(200), serialNumber: '0C', sha256Spki: 's3' }] },
  { id: 'c-off', name: 'legacy', state: 'inactive', mtlsRequired: false, pins: [] },
];

const run = (clientId: string, executionStatus: string, status: string | null): RotationRun => ({
  clientId,
  workflowId: `pin-rotation-${clientId}`,
  runId: 'r1',
  status,
  executionStatus,
  startedAt: at(-1),
  closedAt: executionStatus === 'RUNNING' ? null : at(-0.5),
});

test('joinInventory: days left of every pin, the primary\'s on the client, running rotation apart from the last outcome, the schedule', () => {
  const rows = joinInventory(
    clients,
    new Map([
      ['b-crm', run('b-crm', 'RUNNING', 'awaiting_approval')],
      ['a-erp', run('a-erp', 'FAILED', 'failed')],
    ]),
    [{ clientId: 'a-erp', scheduleId: 'pin-rotation-schedule-a-erp', paused: true, note: 'freeze', nextRunAt: null }],
    NOW,
  );
  assert.deepEqual(rows.map((r) => r.clientId), ['a-erp', 'b-crm', 'c-off'], 'sorted by client id');
  const [a, b, c] = rows;
  assert.deepEqual([b.notAfter, b.daysLeft], [at(12.34), 12.3]);
  assert.deepEqual(b.pins.map((p) => p.daysLeft), [12.3, -1.5]);
  assert.deepEqual(b.rotation, { workflowId: 'pin-rotation-b-crm', runId: 'r1', status: 'awaiting_approval', startedAt: at(-1) });
  assert.equal(b.lastOutcome, null);
  assert.equal(a.rotation, null);
  assert.deepEqual([a.lastOutcome?.status, a.lastOutcome?.executionStatus], ['failed', 'FAILED']);
  assert.deepEqual(a.schedule, { scheduleId: 'pin-rotation-schedule-a-erp', paused: true, note: 'freeze', nextRunAt: null });
  assert.deepEqual([c.notAfter, c.daysLeft, c.pins, c.rotation, c.lastOutcome, c.schedule], [null, null, [], null, null, null]);

  const table = inventoryTable(rows);
  assert.equal(table.includes('\u001b'), false, 'no terminal escapes from the platform reach the terminal');
  assert.match(table, /b-crm\s+active\s+primary\s+CN=b-crm .* running \(awaiting_approval\)/);
  assert.match(table, /a-erp .* last failed\s+paused \(freeze\)/);
  assert.match(table, /c-off\s+inactive, mTLS off\s+\(no pins\)/);

  const csv = inventoryCsv(rows).split('\r\n');
  assert.equal(csv.length, 1 + 4 + 1, 'header, one row per pin, one for the client without pins, the final line end');
  assert.ok(csv[2].startsWith('b-crm,"CRM, ""north""",active,true,primary,CN=b-crm,'), csv[2]);
  assert.equal(csv[4], 'c-off,legacy,inactive,false,,,,,,,,,,,');
});
