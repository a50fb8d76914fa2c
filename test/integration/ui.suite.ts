import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { chromium, type Locator, type Page } from 'playwright-core';
import { startRotation, waitForRotation } from '../../src/starter';
import type { RotationResult } from '../../src/contract';
import { rotationWorkflowId, WORKFLOW_TYPE } from '../../src/contract';
import { FAST_RETRY, harness, issue, seedClient } from './harness';
import { waitFor } from '../../src/temporal/net';
import { recordedWorkflowIds } from './saga.suite';
import { certificatesOnly } from '../../src/pins/certificates-only';

// What an operator does in the Temporal Web UI (2.42.1, served by the dev server), driven by Debian's chromium.
const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent; scripts/install-chromium.sh installs it`;
const T = { timeout: 120_000, skip };

function artifactsDir(): string {
  // npm test runs from the repo root, whose artifacts/ is git-ignored.
  const dir = process.env.ARTIFACTS_DIR ?? resolve(process.cwd(), 'artifacts');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Runs `fn` on a fresh page; on failure the page is saved as artifacts/ui-failure-<name>.png for the CI log. */
async function withPage<R>(name: string, fn: (page: Page) => Promise<R>): Promise<R> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    page.setDefaultTimeout(15_000);
    try {
      return await fn(page);
    } catch (err) {
      await page.screenshot({ path: join(artifactsDir(), `ui-failure-${name}.png`), fullPage: true }).catch(() => undefined);
      throw err;
    }
  } finally {
    await browser.close();
  }
}

/**
 * Loads `url` until `target` is visible: the list view shows what visibility has indexed when the page loads, so a
 * fresh run may need another load. Every wait is a bounded poll, never a fixed sleep.
 */
async function loadUntilVisible(page: Page, url: string, target: Locator, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    await page.goto(url);
    try {
      await target.waitFor({ state: 'visible', timeout: 5_000 });
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
  }
}

/** The history page link of a workflow as the UI renders it (the id's `/` is percent-encoded). */
function workflowLink(page: Page, workflowId: string): Locator {
  return page.locator(`a[href*="/workflows/${encodeURIComponent(workflowId)}/"]`);
}

export function uiSuite(): void {
  test('a failed rotation reads Failed in the workflow list, with RotationStatus failed and readable current details', T, async () => {
    const h = harness();
    const id = 'ui-failed';
    await seedClient(id);
    const next = await issue(id);
    // Two stale-version answers in a row: re-planned once, then the rotation gives up (outcome failed, nothing written).
    await h.admin.addFault({ method: 'PATCH', pathPrefix: `/api/v2/oauth/clients/${id}`, status: 409, times: 2 });
    const handle = await startRotation(h.client, { clientId: id, certificatePem: next.certificatePem, overlap: '0s', retry: FAST_RETRY }, h.taskQueue);
    recordedWorkflowIds.push(handle.workflowId);
    const result = await waitForRotation(handle, { untilOverlap: false, pollMs: 100 });
    assert.equal(result.status, 'failed', JSON.stringify(result.error));
    // DESIGN.md §4 Outcomes: a failed rotation fails the workflow, so Temporal (and its UI) count it as failed.
    assert.equal((await handle.describe()).status.name, 'FAILED');

    await withPage('failed', async (page) => {
      const query = encodeURIComponent(`ClientId="${id}"`);
      const row = page.locator('tr').filter({ has: workflowLink(page, handle.workflowId) });
      await loadUntilVisible(page, `${h.uiUrl}/namespaces/default/workflows?query=${query}`, row.filter({ hasText: 'Failed' }), 60_000);
      assert.doesNotMatch(await row.innerText(), /Completed/);
      // The summary names the client and how it was started, in the list's own words.
      await page.screenshot({ path: join(artifactsDir(), 'ui-failed-list.png'), fullPage: true });

      // Filtering by the outcome works too: what a saved view with RotationStatus as a column is built on.
      const byStatus = encodeURIComponent(`RotationStatus="failed" AND ClientId="${id}"`);
      await loadUntilVisible(page, `${h.uiUrl}/namespaces/default/workflows?query=${byStatus}`, row, 60_000);

      await workflowLink(page, handle.workflowId).first().click();
      await page.waitForURL((url) => url.pathname.endsWith(`/${handle.firstExecutionRunId}/history`));
      const main = page.locator('main');
      await main.getByText('Failed', { exact: true }).first().waitFor();
      await main.getByText(`Pin rotation of ${id}`).first().waitFor();
      // Current details (the User Metadata tab; the UI renders markdown in a sandboxed frame): the rotation's last
      // words, whole: the last line is the error a reader acts on, and nothing is cut off by the panel.
      await main.getByText('User Metadata', { exact: true }).first().click();
      await main.getByText('Current Details', { exact: true }).first().waitFor();
      const want = `last error: ${result.error?.code}`;
      let fit: { text: string; scroll: number; view: number } | undefined;
      await waitFor(async () => {
        for (const frame of page.frames()) {
          const seen = await frame
            .evaluate<{ text: string; scroll: number; view: number }>(`({ text: document.body ? document.body.innerText : '', scroll: document.documentElement.scrollHeight, view: window.innerHeight })`)
            .catch(() => undefined);
          if (seen?.text.includes(want)) fit = seen;
        }
        return fit !== undefined;
      }, 'the current details to show the last error', 15_000, 250);
      assert.ok(fit && fit.scroll <= fit.view + 2, `current details cut off: ${fit?.scroll} px of text in a ${fit?.view} px panel`);
      await page.screenshot({ path: join(artifactsDir(), 'ui-failed-details.png'), fullPage: true });

      await main.getByText('Search Attributes', { exact: true }).first().click();
      const attributes = main.locator('.cm-content').filter({ hasText: '"RotationStatus"' });
      await attributes.waitFor();
      assert.match(await attributes.innerText(), /"RotationStatus":\s*"failed"/);
    });
  });


  test('a finished rotation is found in the Web UI by ClientId and shows Completed and RotationStatus finalized', T, async () => {
    const h = harness();
    const id = 'ui-list';
    await seedClient(id);
    const next = await issue(id);
    const handle = await startRotation(h.client, { clientId: id, certificatePem: next.certificatePem, overlap: '0s', retry: FAST_RETRY }, h.taskQueue);
    recordedWorkflowIds.push(handle.workflowId);
    const result = await waitForRotation(handle, { untilOverlap: false, pollMs: 100 });
    assert.equal(result.status, 'finalized');
    assert.equal(handle.workflowId, rotationWorkflowId(id));

    await withPage('list', async (page) => {
      const query = encodeURIComponent(`ClientId="${id}"`);
      const listUrl = `${h.uiUrl}/namespaces/default/workflows?query=${query}`;
      const row = page.locator('tr').filter({ has: workflowLink(page, handle.workflowId) });
      // The row appears once visibility has indexed the run, and reads Completed once it has indexed its close.
      await loadUntilVisible(page, listUrl, row.filter({ hasText: 'Completed' }), 60_000);
      assert.equal(await row.count(), 1, 'exactly one run of this client is listed');
      const rowText = await row.innerText();
      assert.match(rowText, new RegExp(WORKFLOW_TYPE));
      assert.match(rowText, new RegExp(handle.firstExecutionRunId));
      // The ClientId filter is what found it: no other client's rotation is listed.
      assert.equal(await page.locator('tr').filter({ has: page.locator('a[href*="/workflows/pin-rotation-"]') }).count(), 1);

      await workflowLink(page, handle.workflowId).first().click();
      await page.waitForURL((url) => url.pathname.endsWith(`/${handle.firstExecutionRunId}/history`));
      const main = page.locator('main');
      await main.getByText(handle.workflowId, { exact: true }).first().waitFor();
      await main.getByText('Completed', { exact: true }).first().waitFor();
      // The summary the starter sets names the client for an operator scanning the UI.
      await main.getByText(`Pin rotation of ${id}`).first().waitFor();

      // The tab renders the indexed fields as a JSON document: the outcome the workflow upserted is there.
      await main.getByText('Search Attributes', { exact: true }).first().click();
      const attributes = main.locator('.cm-content').filter({ hasText: '"RotationStatus"' });
      await attributes.waitFor();
      const shown = await attributes.innerText();
      assert.match(shown, /"RotationStatus":\s*"finalized"/);
      assert.match(shown, new RegExp(`"ClientId":\\s*"${id}"`));
      await page.screenshot({ path: join(artifactsDir(), 'ui-rotation.png'), fullPage: true });
    });
  });

  test('a rotation started from the Web UI "Start Workflow" form finalizes on the platform', T, async () => {
    const h = harness();
    const id = 'ui-start';
    await seedClient(id);
    const next = await issue(id);
    const workflowId = rotationWorkflowId(id);
    recordedWorkflowIds.push(workflowId);

    await withPage('start-form', async (page) => {
      await page.goto(`${h.uiUrl}/namespaces/default/workflows/start-workflow`);
      await page.getByTestId('workflowId').fill(workflowId);
      await page.getByTestId('taskQueue').fill(h.taskQueue);
      await page.getByTestId('workflowType').fill(WORKFLOW_TYPE);
      const data = page.locator('.cm-content').first();
      await data.fill(JSON.stringify({ clientId: id, certificatePem: next.certificatePem, overlap: '0s' }));
      // The editor reformats its JSON on blur, which moves the button: blur first, or the click lands beside it.
      await data.blur();
      // The form looks the task queue up: our worker polls it.
      await page.getByText('Task Queue is Active').waitFor();
      await page.getByTestId('start-workflow-button').click();
      // The confirmation links to the run it started.
      const started = page.getByRole('link', { name: 'Workflow started successfully' });
      await started.waitFor();
      assert.match(decodeURIComponent((await started.getAttribute('href')) ?? ''), new RegExp(`/workflows/${workflowId}/`));

      const handle = h.client.workflow.getHandle(workflowId);
      const result = (await handle.result()) as RotationResult;
      assert.equal(result.status, 'finalized');
      const description = await handle.describe();
      assert.equal(description.taskQueue, h.taskQueue);
      assert.equal(description.type, WORKFLOW_TYPE);

      await page.goto(`${h.uiUrl}/namespaces/default/workflows/${encodeURIComponent(workflowId)}/${description.runId}/history`);
      await page.locator('main').getByText('Completed', { exact: true }).first().waitFor();
      await page.screenshot({ path: join(artifactsDir(), 'ui-start-workflow.png'), fullPage: true });
    });

    const client = await h.admin.getClient(id);
    // Finalized: only the new leaf remains, as primary; the old primary's fallback window is over.
    assert.deepEqual(
      client.pins.map((p) => [p.role, p.sha256Spki, p.sha256Certificate]),
      [['primary', next.info.sha256Spki, next.info.sha256Certificate]],
    );
    // The platform holds the input's certificate blocks re-framed (DESIGN.md §4 Bounds): same certificates, LF lines.
    assert.equal(client.certificateChain, certificatesOnly(next.certificatePem).pem);
  });
}
