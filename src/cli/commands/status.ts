import { WorkflowNotFoundError } from '@temporalio/common';
import { connectClient, describeRotation, rotationStartInput } from '../../starter';
import { parseDuration } from '../../pins/duration';
import type { DrainStatus, RotationInput, RotationStatus } from '../../contract';
import { errorLine, formatPins, safeJson, safeText } from '../output';
import { stuckInfo } from '../stuck';
import { parse, temporalOptions, temporalTarget, UsageError } from '../usage';

const FAILED = new Set(['refused', 'rolled_back', 'failed']);

const HELP = `usage: pinrotate status --client ID [--json]

Where the rotation of client ID stands: outcome, phase, the pins on the platform (or, before Apply, the client's
pins as preflight read them), pending activity attempts and the last error. While it waits for approval: what is
approved (planned pins, the new certificate's subject, serial and notAfter), the deadline and the requester.

  --client ID             the client (required)
  --json                  one JSON object with every field
  --address HOST:PORT     Temporal frontend (default $TEMPORAL_ADDRESS or 127.0.0.1:7233)
  --namespace NS          (default $TEMPORAL_NAMESPACE or default)

Exit codes: 0 running or succeeded, 1 refused/rolled back/failed or no rotation, 2 usage.
`;

/** Status fields other parts of the contract add over time (requester, drain); read when present. */
type StatusView = RotationStatus & { requester?: { id: string; verified: boolean } | string; approvalDeadline?: string };

/** When the approval wait ends: the workflow's own deadline when it reports one, else started-waiting + timeout. */
function approvalDeadline(status: StatusView, input: RotationInput | undefined): string | null {
  if (status.approvalDeadline) return status.approvalDeadline;
  const since = status.timestamps.awaiting_approval;
  if (!since) return null;
  try {
    return new Date(Date.parse(since) + parseDuration(input?.approval?.timeout ?? '24h')).toISOString();
  } catch {
    return null;
  }
}

function requesterText(status: StatusView, input: RotationInput | undefined): string | null {
  const r = status.requester;
  if (r && typeof r === 'object') return `${r.id}${r.verified ? ' (verified)' : ' (unverified)'}`;
  if (typeof r === 'string') return r;
  const asked = (input as { requestedBy?: string } | undefined)?.requestedBy;
  return asked ? `${asked} (unverified)` : null;
}

/** The drain state (DESIGN.md §4): why the rotation waits, how fresh the reading is, what comes next. */
function drainLines(d: DrainStatus | null, phase: string | null): string[] {
  if (!d || (phase !== 'overlap' && phase !== 'draining' && phase !== 'finalizing')) return [];
  const age = d.checkedAt ? `${Math.max(0, Math.round((Date.now() - Date.parse(d.checkedAt)) / 1000))}s ago` : 'none yet';
  return [
    `drain: ${d.state} (policy ${d.policy}, drainQuiet ${Math.round(d.drainQuietMs / 1000)}s): ${d.reason}`,
    `  old certificate (fallback pin): last accepted handshake ${d.fallbackLastSeen ?? 'none since apply'}, ${d.fallbackAccepted} accepted; new: ${d.primaryAccepted} accepted; rejected ${d.rejected}`,
    `  telemetry reading: ${age} (${d.checks} so far)${d.telemetryError ? `, last read failed: ${d.telemetryError}` : ''}; next check ${d.nextCheckAt ?? '-'}; max overlap ${d.maxOverlapAt}`,
  ];
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parse(argv, { ...temporalOptions, client: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (!values.client) throw new UsageError('--client ID is required');
  const client = await connectClient(temporalTarget(values));
  try {
    let described;
    try {
      described = await describeRotation(client, values.client);
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      const message = `no rotation found for client ${values.client}`;
      if (values.json) process.stdout.write(`${safeJson({ clientId: values.client, status: 'not_found', error: { code: 'NOT_FOUND', message } })}\n`);
      else process.stderr.write(`pinrotate: ${safeText(message)}\n`);
      return 1;
    }
    const { description, pending } = described;
    const status = described.status as StatusView | undefined;
    const workflowStatus = description.status.name;
    // A run whose workflow task keeps failing (e.g. an undecodable payload) holds the client: say so, and the way out.
    const stuck = workflowStatus === 'RUNNING' ? await stuckInfo(client, described.handle, description.raw) : undefined;
    // A workflow that ended without answering the query (e.g. terminated) still reports what Temporal knows.
    const outcome = status?.status ?? (workflowStatus === 'RUNNING' ? 'running' : 'failed');
    const awaiting = status?.phase === 'awaiting_approval';
    const input = awaiting ? await rotationStartInput(client, described.handle) : undefined;
    const view = {
      workflowId: description.workflowId,
      runId: description.runId,
      status: outcome,
      clientId: values.client,
      pins: status?.pins ?? [],
      pinMatchRate: status?.pinMatchRate ?? null,
      latencyMs: status?.latencyMs ?? null,
      phase: status?.phase ?? null,
      serviceId: status?.serviceId ?? null,
      workflowStatus,
      pinsBefore: status?.pinsBefore ?? [],
      plannedPins: status?.plannedPins ?? [],
      newCertificate: status?.newCertificate ?? null,
      lastError: status?.lastError ?? null,
      attempts: status?.attempts ?? {},
      pendingActivities: pending,
      timestamps: status?.timestamps ?? {},
      overlapEndsAt: status?.overlapEndsAt ?? null,
      approval: status?.approval ?? null,
      approvalDeadline: status && awaiting ? approvalDeadline(status, input) : null,
      requester: status ? requesterText(status, input) : null,
      refusedActions: status?.refusedActions ?? [],
      drain: status?.drain ?? null,
      pinMatch: status?.pinMatch ?? null,
      warnings: status?.warnings ?? [],
      stuck: stuck ?? null,
    };
    if (values.json) {
      process.stdout.write(`${safeJson(view)}\n`);
      return FAILED.has(outcome) || stuck ? 1 : 0;
    }
    // Before Apply (refused, dry run, awaiting approval) nothing is on the platform from this rotation: the pins
    // that matter are those preflight read, not an empty list.
    const applied = Boolean(view.timestamps.applied) || view.pins.length > 0;
    const lines = [
      `${safeText(view.workflowId)} (run ${safeText(view.runId)}): ${safeText(view.status)}, phase ${safeText(view.phase ?? 'unknown')}, workflow ${safeText(workflowStatus)}`,
      applied ? 'pins on the platform:' : "client's pins (as preflight read them):",
      formatPins(applied ? view.pins : view.pinsBefore),
    ];
    if (awaiting) {
      lines.push('awaiting approval of:', formatPins(view.plannedPins));
      const c = view.newCertificate;
      if (c) lines.push(`new certificate: ${safeText(c.subject)}, serial ${safeText(c.serialNumber)}, notAfter ${safeText(c.notAfter)}`);
      lines.push(`approval deadline: ${safeText(view.approvalDeadline ?? 'unknown')}`);
      lines.push(`requested by: ${safeText(view.requester ?? 'unknown')}`);
      lines.push(`approve with \`pinrotate approve --client ${safeText(values.client)} --key YOUR_KEY.pem --approver YOUR_ID\``);
    } else if (view.requester) {
      lines.push(`requested by: ${safeText(view.requester)}`);
    }
    if (view.overlapEndsAt && (view.phase === 'overlap' || view.phase === 'draining')) lines.push(`overlap ends ${safeText(view.overlapEndsAt)}`);
    lines.push(...drainLines(view.drain, view.phase).map((l) => safeText(l)));
    if (view.pinMatch) {
      const rate = view.pinMatchRate === null ? 'n/a (no handshakes since apply)' : `${(view.pinMatchRate * 100).toFixed(1)}%`;
      lines.push(`pin match rate: ${rate} (${view.pinMatch.accepted} accepted, ${view.pinMatch.rejected} rejected since ${safeText(view.pinMatch.since)}; measured ${safeText(view.pinMatch.measuredAt)})`);
    }
    for (const w of view.warnings) lines.push(`warning: ${safeText(w)}`);
    for (const p of pending) lines.push(`pending ${safeText(p.activity)}: attempt ${safeText(p.attempt)}${p.lastFailure ? `, last failure: ${safeText(p.lastFailure)}` : ''}`);
    if (view.approval) lines.push(`approved by ${safeText(view.approval.by)}${view.approval.verified ? ' (verified signature)' : ''} at ${safeText(view.approval.at)}`);
    for (const r of view.refusedActions) lines.push(`refused ${safeText(r.action)} (${safeText(r.via)}) at ${safeText(r.at)}: ${safeText(r.reason)}`);
    if (view.lastError) {
      lines.push(`last error: ${errorLine(view.lastError)}`);
      // The headline is the first problem: list the others only.
      for (const p of (view.lastError.problems ?? []).filter((p, i) => !(i === 0 && view.lastError?.message.includes(p.message)))) lines.push(`  - ${safeText(p.code)}: ${safeText(p.message)}`);
    }
    if (stuck) {
      lines.push(`STUCK: the workflow task failed ${stuck.attempts - 1} times${stuck.lastFailure ? ` (last: ${safeText(stuck.lastFailure)})` : ''}; the rotation cannot make progress`);
      lines.push(`  to free the client: pinrotate terminate --client ${safeText(values.client)} --reason TEXT`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
    return FAILED.has(outcome) || stuck ? 1 : 0;
  } finally {
    await client.connection.close();
  }
}
