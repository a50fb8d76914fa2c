import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  defineUpdate,
  isCancellation,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities, RestoreInput } from '../activities';
import type { OAuthClientState } from '../genesys/types';
import { PlanError, pinMatchRate, pinsEqual, planFinalize, planRotation } from '../pins/plan';
import type { Pin } from '../pins/types';
import { parseDuration as parseWorkflowDuration } from '../pins/duration';
import { ClientIdKey, RotationStatusKey, ServiceIdKey, platformTaskQueue, type RotationError, type RotationInput, type RotationPhase, type RotationResult, type RotationStatus } from '../contract';

/** Signals and the query an operator (CLI, UI) or an upstream system uses. */
export const approveSignal = defineSignal<[{ by?: string }?]>('approve');
export const finalizeNowSignal = defineSignal('finalizeNow');
export const rollbackSignal = defineSignal<[{ reason?: string }?]>('rollback');
export const statusQuery = defineQuery<RotationStatus>('status');
/**
 * An upstream PKI manager announces a newly issued certificate. With signal-with-start it starts the rotation;
 * sent to a running rotation, the newest certificate is kept and rotated to right after this run ends.
 */
export const certificateIssuedSignal = defineSignal<[CertificateIssued]>('certificateIssued');

export interface CertificateIssued {
  certificatePem: string;
  serviceId?: string;
}

/**
 * The same announcement as an update, for update-with-start: Temporal's HTTP API can address a workflow id with a
 * "/" only in a request body, which update-with-start (execute-multi-operation) has. Its validator refuses a
 * payload holding a private key before anything is written to history.
 */
export const certificateIssuedUpdate = defineUpdate<{ accepted: true; runId: string; rotates: 'now' | 'next' }, [CertificateIssued]>('certificateIssued');

function checkAnnouncement(issued: CertificateIssued): void {
  if (typeof issued?.certificatePem !== 'string' || !issued.certificatePem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new Error('certificatePem must be PEM text with at least one CERTIFICATE block');
  }
  if (/PRIVATE KEY-----/.test(issued.certificatePem)) throw new Error('PRIVATE_KEY_SUPPLIED: send certificates only, never a private key');
  if (issued.certificatePem.length > 256 * 1024) throw new Error('INPUT_TOO_LARGE: certificatePem is over 256 KiB');
}

// Failure types raised by activities (src/genesys/errors.ts, src/activities); matched by type, never by message.
const VERSION_CONFLICT = 'VersionConflict';
const CERTIFICATE_INVALID = 'CertificateInvalid';
const CLIENT_NOT_FOUND = 'ClientNotFound';

/** A refusal before anything changed: the rotation ends `refused` with this code. */
export class Refusal extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly problems?: Array<{ code: string; message: string }>,
  ) {
    super(message);
  }
}

/** An operator asked to roll back (or a verification failed) after Apply. */
class RollbackRequested extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const DEFAULT_OVERLAP = '7d';
const DEFAULT_APPROVAL_TIMEOUT = '24h';

interface RetryTuning {
  initialIntervalMs: number;
  maximumIntervalMs: number;
  maximumAttempts: number;
}

function activityProxies(tuning: RetryTuning) {
  const retry = {
    initialInterval: tuning.initialIntervalMs,
    maximumInterval: tuning.maximumIntervalMs,
    backoffCoefficient: 2,
  };
  const platform: ActivityOptions = {
    taskQueue: platformTaskQueue(workflowInfo().taskQueue),
    startToCloseTimeout: '30s',
    retry: { ...retry, maximumAttempts: tuning.maximumAttempts },
  };
  return {
    platform: proxyActivities<Activities>(platform),
    // No attempt limit: compensation keeps trying through an outage; a half-rotated client is worse than a slow restore.
    compensation: proxyActivities<Activities>({ ...platform, retry }),
    local: proxyActivities<Activities>({ startToCloseTimeout: '30s', retry: { ...retry, maximumAttempts: 3 } }),
    pki: proxyActivities<Activities>({ startToCloseTimeout: '20s', retry: { ...retry, maximumAttempts: tuning.maximumAttempts } }),
    audit: proxyActivities<Activities>({ startToCloseTimeout: '20s', retry }),
  };
}

function failureOf(err: unknown): ApplicationFailure | undefined {
  if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure) return err.cause;
  if (err instanceof ApplicationFailure) return err;
  return undefined;
}

function errorOf(err: unknown): RotationError {
  if (err instanceof Refusal) return { code: err.code, message: err.message, ...(err.problems ? { problems: err.problems } : {}) };
  if (err instanceof RollbackRequested) return { code: err.code, message: err.message };
  if (err instanceof PlanError) return { code: err.code, message: err.message };
  const failure = failureOf(err);
  if (failure) {
    const detail = (failure.details?.[0] ?? {}) as { code?: string; problems?: Array<{ code: string; message: string }> };
    if (failure.type === CERTIFICATE_INVALID && detail.code) {
      return { code: detail.code, message: failure.message, problems: detail.problems };
    }
    return { code: failure.type ?? 'ActivityFailed', message: failure.message };
  }
  if (isCancellation(err)) return { code: 'CANCELLED', message: 'the rotation was cancelled' };
  return { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

const DEFAULT_TUNING: RetryTuning = { initialIntervalMs: 1000, maximumIntervalMs: 60_000, maximumAttempts: 12 };

export function validateInput(raw: unknown): { input: RotationInput; overlapMs: number; approvalTimeoutMs: number; tuning: RetryTuning } {
  const problems: string[] = [];
  const input = (raw ?? {}) as RotationInput;
  if (typeof raw !== 'object' || raw === null) problems.push('input must be a JSON object');
  if (typeof input.clientId !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(input.clientId)) {
    problems.push('clientId must be 1-128 characters of letters, digits, ".", "_" or "-"');
  }
  if (typeof input.certificatePem !== 'string' || !input.certificatePem.includes('-----BEGIN')) {
    problems.push('certificatePem must be the new certificate chain as PEM text (leaf first)');
  }
  if (input.serviceId !== undefined && typeof input.serviceId !== 'string') problems.push('serviceId must be a string');
  let overlapMs = 0;
  let approvalTimeoutMs = 0;
  try {
    overlapMs = parseWorkflowDuration(input.overlap ?? DEFAULT_OVERLAP);
  } catch {
    problems.push(`overlap must be a duration like "7d", "12h" or "0s" (got ${JSON.stringify(input.overlap)})`);
  }
  try {
    approvalTimeoutMs = parseWorkflowDuration(input.approval?.timeout ?? DEFAULT_APPROVAL_TIMEOUT);
  } catch {
    problems.push(`approval.timeout must be a duration like "1h" (got ${JSON.stringify(input.approval?.timeout)})`);
  }
  const tuning = { ...DEFAULT_TUNING };
  try {
    if (input.retry?.initialInterval !== undefined) tuning.initialIntervalMs = Math.max(1, parseWorkflowDuration(input.retry.initialInterval));
    if (input.retry?.maximumInterval !== undefined) tuning.maximumIntervalMs = Math.max(1, parseWorkflowDuration(input.retry.maximumInterval));
  } catch {
    problems.push('retry.initialInterval and retry.maximumInterval must be durations like "1s"');
  }
  if (input.retry?.maximumAttempts !== undefined) {
    if (!Number.isInteger(input.retry.maximumAttempts) || input.retry.maximumAttempts < 1) problems.push('retry.maximumAttempts must be a positive integer');
    else tuning.maximumAttempts = input.retry.maximumAttempts;
  }
  if (problems.length > 0) throw new Refusal('INVALID_INPUT', problems.join('; '));
  return { input, overlapMs, approvalTimeoutMs, tuning };
}

/**
 * The rotation of DESIGN.md §4: preflight → approval → apply → verify → sync → overlap → finalize, with a saga
 * that restores the pre-rotation chain and pins on any failure after Apply, a `rollback` signal or cancellation.
 */
export async function pinRotation(rawInput: RotationInput): Promise<RotationResult> {
  const upstream: Upstream = {};
  setHandler(certificateIssuedSignal, (issued) => {
    if (typeof issued?.certificatePem !== 'string') return;
    upstream.latest = issued;
  });
  let input = rawInput;
  setHandler(
    certificateIssuedUpdate,
    (issued) => {
      upstream.latest = issued;
      return { accepted: true, runId: workflowInfo().runId, rotates: upstream.consumed === undefined && !input.certificatePem ? 'now' : 'next' };
    },
    { validator: checkAnnouncement },
  );
  if (typeof rawInput?.certificatePem !== 'string' || rawInput.certificatePem === '') {
    // Started by signal-with-start: the certificate travels in the signal, delivered with the first task.
    if (!upstream.latest) await condition(() => upstream.latest !== undefined, '1m');
    if (upstream.latest) {
      input = { ...rawInput, certificatePem: upstream.latest.certificatePem, serviceId: rawInput?.serviceId ?? upstream.latest.serviceId };
      upstream.consumed = upstream.latest;
    }
  }
  const result = await rotate(input);
  const next = upstream.latest;
  if (next && next !== upstream.consumed && next.certificatePem !== input.certificatePem && !input.dryRun) {
    // A newer certificate arrived while this rotation ran: rotate to it next, under the same workflow id.
    await continueAsNew<typeof pinRotation>({ ...input, certificatePem: next.certificatePem, serviceId: next.serviceId ?? input.serviceId });
  }
  return result;
}

function sameChain(a: string, b: string): boolean {
  return a.replace(/\r\n/g, '\n').trim() === b.replace(/\r\n/g, '\n').trim();
}

/** The client holds exactly `pins` (and `certificateChain`, when the write set one). */
function holdsWrite(client: OAuthClientState, certificateChain: string | undefined, pins: Pin[]): boolean {
  return pinsEqual(client.pins, pins) && (certificateChain === undefined || sameChain(client.certificateChain, certificateChain));
}

interface Upstream {
  latest?: CertificateIssued;
  consumed?: CertificateIssued;
}

async function rotate(rawInput: RotationInput): Promise<RotationResult> {
  const info = workflowInfo();
  const startedAt = Date.now();
  const state: RotationStatus = {
    workflowId: info.workflowId,
    runId: info.runId,
    clientId: typeof rawInput?.clientId === 'string' ? rawInput.clientId : '',
    serviceId: typeof rawInput?.serviceId === 'string' ? rawInput.serviceId : '',
    phase: 'preflight',
    status: 'running',
    pinsBefore: [],
    plannedPins: [],
    pins: [],
    pinMatchRate: null,
    latencyMs: null,
    attempts: {},
    lastError: null,
    timestamps: { started: new Date(startedAt).toISOString() },
    refusedActions: [],
  };
  let approved = false;
  let finalizeRequested = false;
  let rollbackReason: string | undefined;

  setHandler(statusQuery, () => state);
  setHandler(approveSignal, () => {
    approved = true;
  });
  setHandler(finalizeNowSignal, () => {
    finalizeRequested = true;
  });
  setHandler(rollbackSignal, (args) => {
    rollbackReason = args?.reason ?? 'rollback requested by an operator';
  });

  let shownStatus = '';
  // Versioning: runs recorded before the search attributes existed replay without the upserts.
  const withSearchAttributes = patched('search-attributes-v1');
  const enter = (phase: RotationPhase): void => {
    state.phase = phase;
    // RotationStatus reads as the outcome once there is one, else as the phase (e.g. `overlap`).
    const shown = state.status === 'running' ? phase : state.status;
    if (withSearchAttributes && `${shown}|${state.serviceId}` !== shownStatus && state.clientId) {
      shownStatus = `${shown}|${state.serviceId}`;
      upsertSearchAttributes([
        { key: ClientIdKey, value: state.clientId },
        { key: ServiceIdKey, value: state.serviceId || state.clientId },
        { key: RotationStatusKey, value: shown },
      ]);
    }
    state.timestamps[phase] = new Date().toISOString();
    state.attempts[phase] = (state.attempts[phase] ?? 0) + 1;
    setCurrentDetails(
      [
        `**Rotation of \`${state.clientId}\`**: phase \`${phase}\`, status \`${state.status}\``,
        state.plannedPins.length ? `planned pins: ${state.plannedPins.map((p) => `${p.role} ${p.sha256Spki}`).join(', ')}` : '',
        state.overlapEndsAt ? `overlap ends ${state.overlapEndsAt}` : '',
        state.lastError ? `last error: ${state.lastError.code}: ${state.lastError.message}` : '',
      ]
        .filter(Boolean)
        .join('\n\n'),
    );
  };

  const finish = async (status: RotationResult['status'], error: RotationError | null): Promise<RotationResult> => {
    state.status = status;
    state.lastError = error ?? state.lastError;
    state.timestamps.ended = new Date().toISOString();
    enter('done');
    await CancellationScope.nonCancellable(() =>
      acts.audit.writeAudit({
        timestamp: new Date().toISOString(),
        clientId: state.clientId,
        serviceId: state.serviceId,
        workflowId: info.workflowId,
        runId: info.runId,
        pins: state.pins,
        latencyMs: state.latencyMs ?? Date.now() - startedAt,
        pinMatchRate: state.pinMatchRate ?? 0,
        status,
        errorCode: error?.code ?? null,
        error: error?.message ?? null,
        durationMs: Date.now() - startedAt,
      }),
    );
    return {
      workflowId: info.workflowId,
      status,
      clientId: state.clientId,
      pins: state.pins,
      pinMatchRate: state.pinMatchRate,
      latencyMs: state.latencyMs,
      serviceId: state.serviceId,
      phase: state.phase,
      error,
      ...(status === 'dry_run' ? { plannedPins: state.plannedPins } : {}),
    };
  };

  let acts = activityProxies(DEFAULT_TUNING);
  let validated: ReturnType<typeof validateInput>;
  try {
    validated = validateInput(rawInput);
  } catch (err) {
    return finish('refused', errorOf(err));
  }
  const { input, overlapMs, approvalTimeoutMs, tuning } = validated;
  acts = activityProxies(tuning);
  const serviceId = input.serviceId ?? input.clientId;
  state.serviceId = serviceId;
  enter('preflight');

  let before: OAuthClientState | undefined;
  let applied: OAuthClientState | undefined;
  const written: RestoreInput['written'] = [];
  let announced = false;

  const notify = async (event: 'certificate_rotation' | 'rotation_finalized' | 'rotation_rolled_back', pins: Pin[]): Promise<void> => {
    await acts.pki.notifyPki({
      event,
      clientId: input.clientId,
      serviceId,
      pins,
      workflowId: info.workflowId,
      runId: info.runId,
      latencyMs: state.latencyMs ?? Date.now() - startedAt,
      occurredAt: new Date().toISOString(),
    });
  };

  const checkRollback = (): void => {
    if (rollbackReason !== undefined) throw new RollbackRequested('ROLLBACK_REQUESTED', rollbackReason);
  };

  /**
   * PATCH with the version we hold; on 409 re-read, re-plan with `replan` and try once more (DESIGN.md §4). Every
   * 409 is re-read first, because it can be our own write: a retried PATCH whose first attempt landed (its answer
   * lost to a timeout, a reset or a worker crash) is refused by that write, and then the platform already holds
   * what we planned, so that is the result.
   */
  const patchWithReplan = async (version: number, certificateChain: string | undefined, pins: Pin[], replan: (fresh: OAuthClientState) => Pin[]): Promise<OAuthClientState> => {
    let attempt = { version, pins };
    for (let conflicts = 0; ; conflicts++) {
      try {
        return await acts.platform.applyPins({ clientId: input.clientId, version: attempt.version, certificateChain, pins: attempt.pins });
      } catch (err) {
        if (failureOf(err)?.type !== VERSION_CONFLICT) throw err;
        // Before own-write-after-replan-v1 a second 409 ended the rotation unread; histories from then replay so.
        if (conflicts >= 1 && !patched('own-write-after-replan-v1')) throw err;
        state.lastError = errorOf(err);
        const fresh = await acts.platform.fetchClient(input.clientId);
        if (holdsWrite(fresh, certificateChain, attempt.pins) && patched('own-write-on-conflict-v1')) return fresh;
        // Another writer again, after the one re-plan: give up rather than race them.
        if (conflicts >= 1) throw err;
        attempt = { version: fresh.version, pins: replan(fresh) };
        state.plannedPins = attempt.pins;
      }
    }
  };

  try {
    // 1. Preflight: nothing is written until every check has passed.
    try {
      before = await acts.platform.fetchClient(input.clientId);
    } catch (err) {
      if (failureOf(err)?.type === CLIENT_NOT_FOUND) throw new Refusal('CLIENT_NOT_FOUND', `no OAuth client ${input.clientId} on the platform`);
      throw err;
    }
    state.pinsBefore = before.pins;
    state.pins = before.pins;
    if (before.state !== 'active') throw new Refusal('CLIENT_NOT_ACTIVE', `client ${input.clientId} is ${before.state}, not active`);
    if (!before.mtlsRequired) throw new Refusal('MTLS_NOT_REQUIRED', `client ${input.clientId} does not require mTLS; pins would not be enforced`);
    let leafPin: Pin;
    try {
      const cert = await acts.local.validateCertificate({ certificatePem: input.certificatePem });
      state.newCertificate = cert.certificates[0];
      leafPin = cert.leafPin;
    } catch (err) {
      const failure = failureOf(err);
      if (failure?.type === CERTIFICATE_INVALID) {
        const e = errorOf(err);
        throw new Refusal(e.code, e.message, e.problems);
      }
      throw err;
    }
    try {
      state.plannedPins = planRotation(before.pins, leafPin);
    } catch (err) {
      if (err instanceof PlanError) throw new Refusal(err.code, err.message);
      throw err;
    }
    if (input.dryRun) {
      state.pins = before.pins;
      return await finish('dry_run', null);
    }

    // 2. Approval (optional): the rotation waits for a human, and gives up with nothing changed.
    if (input.approval?.required) {
      enter('awaiting_approval');
      const decided = await condition(() => approved || rollbackReason !== undefined, approvalTimeoutMs);
      if (!decided) throw new Refusal('APPROVAL_TIMEOUT', `no approval within ${input.approval.timeout ?? DEFAULT_APPROVAL_TIMEOUT}; nothing was changed`);
      if (!approved) throw new Refusal('REJECTED', rollbackReason ?? 'rejected before apply; nothing was changed');
    }
    if (rollbackReason !== undefined) throw new Refusal('REJECTED', `${rollbackReason}; nothing was changed`);

    // 3. Apply: from here on, the saga restores the previous pins on any failure.
    enter('applying');
    written.push({ certificateChain: input.certificatePem, pins: state.plannedPins });
    const snapshot = before;
    applied = await patchWithReplan(before.version, input.certificatePem, state.plannedPins, (fresh) => {
      if (fresh.certificateChain !== snapshot.certificateChain || !pinsEqual(fresh.pins, snapshot.pins)) {
        // Another writer changed the client since preflight: plan from what is there now.
        state.pinsBefore = fresh.pins;
        before = fresh;
      }
      const replanned = planRotation(fresh.pins, leafPin);
      written.push({ certificateChain: input.certificatePem, pins: replanned });
      return replanned;
    });
    state.pins = applied.pins;
    state.timestamps.applied = new Date().toISOString();

    // 4. Verify: the PATCH response is the platform's own statement of what is live.
    enter('verifying');
    await verify(applied.pins, state.plannedPins);
    state.latencyMs = Date.now() - startedAt;
    checkRollback();

    // 5. Sync the PKI manager.
    enter('syncing');
    await notify('certificate_rotation', applied.pins);
    announced = true;
    checkRollback();

    // 6. Overlap: the fallback pin keeps clients on the old certificate working.
    if (overlapMs > 0) {
      state.overlapEndsAt = new Date(Date.now() + overlapMs).toISOString();
      state.status = 'rotated';
      enter('overlap');
      await condition(() => finalizeRequested || rollbackReason !== undefined, overlapMs);
      checkRollback();
    }

    // 7. Finalize: drop the fallback, keep primary (+ backup).
    enter('finalizing');
    const finalPins = planFinalize(applied.pins);
    state.plannedPins = finalPins;
    written.push({ certificateChain: input.certificatePem, pins: finalPins });
    const finalized = await patchWithReplan(applied.version, undefined, finalPins, (fresh) => {
      const replanned = planFinalize(fresh.pins);
      written.push({ certificateChain: fresh.certificateChain, pins: replanned });
      return replanned;
    });
    state.pins = finalized.pins;
    await verify(finalized.pins, state.plannedPins);
    await notify('rotation_finalized', finalized.pins);
    state.timestamps.finalized = new Date().toISOString();
    return await finish('finalized', null);
  } catch (err) {
    const error = errorOf(err);
    state.lastError = error;
    if (written.length === 0) {
      // Nothing was written: a refusal, or a failure before Apply.
      const status = err instanceof Refusal ? 'refused' : isCancellation(err) ? 'refused' : 'failed';
      const result = await finish(status, error);
      if (isCancellation(err)) throw err;
      return result;
    }
    // Compensation: runs even when the workflow is being cancelled.
    const outcome = await CancellationScope.nonCancellable(async () => {
      enter('compensating');
      try {
        const restored = await acts.compensation.restorePins({
          clientId: input.clientId,
          before: { certificateChain: before?.certificateChain ?? '', pins: before?.pins ?? [] },
          written,
        });
        state.pins = restored.client.pins;
        if (restored.restored || announced) await notify('rotation_rolled_back', restored.client.pins);
        state.timestamps.rolledBack = new Date().toISOString();
        // The platform holds the previous chain and pins again. If a write of ours is known to have landed (its
        // answer came back, or the PKI manager was told), this is a rollback, even when restorePins found it already
        // restored (an earlier attempt whose answer was lost). Otherwise the write never landed: nothing changed.
        const landed = restored.restored || announced || state.timestamps.applied !== undefined;
        return finish(landed ? 'rolled_back' : 'failed', error);
      } catch (compErr) {
        const compError = errorOf(compErr);
        return finish('failed', { code: `COMPENSATION_FAILED`, message: `${error.code}: ${error.message}; compensation failed: ${compError.code}: ${compError.message}` });
      }
    });
    if (isCancellation(err)) throw err;
    return outcome;
  }

  async function verify(actual: Pin[], planned: Pin[]): Promise<void> {
    let checks = planned.length;
    let passed = Math.round(pinMatchRate(planned, actual) * planned.length);
    const probe = input.probe;
    if (probe?.newKeyPath) {
      const res = await acts.local.probeHandshake({ clientId: input.clientId, certificatePem: input.certificatePem, keyPath: probe.newKeyPath });
      checks += 1;
      if (res.accepted) passed += 1;
    }
    // The old certificate must keep working only while its fallback pin is there.
    const oldStillPinned = actual.some((p) => p.role === 'fallback');
    if (probe?.oldKeyPath && oldStillPinned && before?.certificateChain) {
      const res = await acts.local.probeHandshake({ clientId: input.clientId, certificatePem: before.certificateChain, keyPath: probe.oldKeyPath });
      checks += 1;
      if (res.accepted) passed += 1;
    }
    state.pinMatchRate = checks === 0 ? 0 : passed / checks;
    if (passed < checks) {
      throw new RollbackRequested('VERIFICATION_FAILED', `verification passed ${passed} of ${checks} checks (pin match rate ${state.pinMatchRate.toFixed(2)})`);
    }
  }
}
