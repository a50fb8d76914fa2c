import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { harness } from './harness';
import { recordedWorkflowIds } from './saga.suite';

// Histories committed from earlier runs: today's workflow code must still replay them (no non-determinism).
// Record this run's with RECORD_HISTORIES=1 npm test -- integration (after a deliberate, versioned change), into
// RECORD_HISTORIES_DIR when set: histories recorded by the code before a patch must stay, so new ones are recorded
// aside and committed under new names, never over the old ones.
const FIXTURES = process.env.RECORD_HISTORIES_DIR ?? join(__dirname, '..', '..', '..', 'test', 'fixtures', 'histories');

export function replaySuite(): void {
  test('histories recorded in this run replay with the current workflow code', { timeout: 120_000 }, async () => {
    const h = harness();
    assert.ok(recordedWorkflowIds.length >= 5, 'the saga suite recorded runs');
    const record = process.env.RECORD_HISTORIES === '1';
    if (record) mkdirSync(FIXTURES, { recursive: true });
    for (const workflowId of new Set(recordedWorkflowIds)) {
      const history = await h.client.workflow.getHandle(workflowId).fetchHistory();
      await Worker.runReplayHistory({ workflowBundle: h.bundle }, history, workflowId);
      if (record) writeFileSync(join(FIXTURES, `${workflowId.replace(/[^A-Za-z0-9_-]/g, '_')}.json`), historyToJSON(history));
    }
  });

  // Committed histories replay in the unit run (test/unit/workflows.test.ts): that needs only the bundle.
}
