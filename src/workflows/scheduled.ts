import {
  ActivityFailure,
  CancellationScope,
  ChildWorkflowCancellationType,
  isCancellation,
  ParentClosePolicy,
  patched,
  proxyActivities,
  setCurrentDetails,
  startChild,
  workflowInfo,
  WorkflowIdReusePolicy,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ScheduleActivities } from '../schedules/activities';
import {
  ALREADY_RUNNING_REASON,
  ClientIdKey,
  CLIENT_ID_RULE,
  DEFAULT_RENEW_WITHIN,
  isClientId,
  issuesOnDemand,
  legacyIds,
  platformTaskQueue,
  rotationSummary,
  rotationWorkflowId,
  ScheduledByIdKey,
  ServiceIdKey,
  WorkflowExecutionAlreadyStartedError,
  type RenewalAssessment,
  type RotationInput,
  type ScheduledRotationInput,
  type ScheduledRotationResult,
  type ScheduleCheckInput,
  type ScheduleCheckResult,
} from '../contract';
import { parseDuration } from '../pins/duration';
import { failureOf } from './failure-of';
import { pinRotation } from './rotation';

/**
 * What a Temporal Schedule runs for one client (schedule id `pin-rotation-schedule-{clientId}`): decide whether a
 * rotation is needed (fetchClient → obtainCertificate → assessRenewal) and, if so, start the rotation
 * `pin-rotation-{clientId}` as a child. Schedule runs get a timestamp appended to their ids, so the one-rotation-
 * per-client rule comes from the child's fixed id: a rotation already running makes this run end `skipped`.
 */

type RunActivities = Activities & ScheduleActivities;

interface RetryTuning {
  initialIntervalMs: number;
  maximumIntervalMs: number;
  maximumAttempts: number;
}

// The rotation's defaults: platform calls ride out an outage of a few minutes.
const DEFAULT_TUNING: RetryTuning = { initialIntervalMs: 1000, maximumIntervalMs: 60_000, maximumAttempts: 12 };

function proxies(tuning: RetryTuning) {
  const retry = { initialInterval: tuning.initialIntervalMs, maximumInterval: tuning.maximumIntervalMs, backoffCoefficient: 2 };
  return {
    // Platform reads share the rotation's rate-capped queue: the cap holds for scheduled runs too.
    platform: proxyActivities<RunActivities>({ taskQueue: platformTaskQueue(workflowInfo().taskQueue), startToCloseTimeout: '30s', retry: { ...retry, maximumAttempts: tuning.maximumAttempts } }),
    io: proxyActivities<RunActivities>({ startToCloseTimeout: '30s', retry: { ...retry, maximumAttempts: tuning.maximumAttempts } }),
    local: proxyActivities<RunActivities>({ startToCloseTimeout: '30s', retry: { ...retry, maximumAttempts: 3 } }),
    // Like the rotation's: the record is written however long it takes.
    audit: proxyActivities<RunActivities>({ startToCloseTimeout: '20s', retry }),
  };
}

function validate(raw: ScheduledRotationInput): { problems: string[]; renewWithinMs: number; tuning: RetryTuning } {
  const problems: string[] = [];
  let renewWithinMs = 0;
  const tuning = { ...DEFAULT_TUNING };
  if (typeof raw !== 'object' || raw === null) return { problems: ['input must be a JSON object'], renewWithinMs, tuning };
  if (!isClientId(raw.clientId)) problems.push(`clientId must be ${CLIENT_ID_RULE}`);
  if (typeof raw.certSource !== 'string' || raw.certSource.length === 0) problems.push('certSource must be file:PATH, https://URL or emulator-ca');
  if (raw.serviceId !== undefined && typeof raw.serviceId !== 'string') problems.push('serviceId must be a string');
  try {
    renewWithinMs = parseDuration(raw.renewWithin ?? DEFAULT_RENEW_WITHIN);
  } catch {
    problems.push(`renewWithin must be a duration like "30d" (got ${JSON.stringify(raw.renewWithin)})`);
  }
  if (raw.overlap !== undefined) {
    try {
      parseDuration(raw.overlap);
    } catch {
      problems.push(`overlap must be a duration like "7d", "12h" or "0s" (got ${JSON.stringify(raw.overlap)})`);
    }
  }
  try {
    if (raw.retry?.initialInterval !== undefined) tuning.initialIntervalMs = Math.max(1, parseDuration(raw.retry.initialInterval));
    if (raw.retry?.maximumInterval !== undefined) tuning.maximumIntervalMs = Math.max(1, parseDuration(raw.retry.maximumInterval));
  } catch {
    problems.push('retry.initialInterval and retry.maximumInterval must be durations like "1s"');
  }
  if (raw.retry?.maximumAttempts !== undefined) {
    if (!Number.isInteger(raw.retry.maximumAttempts) || raw.retry.maximumAttempts < 1) problems.push('retry.maximumAttempts must be a positive integer');
    else tuning.maximumAttempts = raw.retry.maximumAttempts;
  }
  return { problems, renewWithinMs, tuning };
}

/** One scheduled run: what it read, and how it ends (every outcome but `rotation_started` audits itself). */
class ScheduledRun {
  readonly info = workflowInfo();
  readonly startedAt = Date.now();
  readonly clientId: string;
  readonly serviceId: string;
  rotationId: string;
  acts = proxies(DEFAULT_TUNING);
  assessment: RenewalAssessment | undefined;
  deployedPins: Awaited<ReturnType<Activities['fetchClient']>>['pins'] = [];

  constructor(readonly input: ScheduledRotationInput) {
    this.clientId = typeof input?.clientId === 'string' ? input.clientId : '';
    this.serviceId = typeof input?.serviceId === 'string' ? input.serviceId : this.clientId;
    this.rotationId = rotationWorkflowId(this.clientId);
  }

  show(line: string): void {
    setCurrentDetails([`**Scheduled rotation check of \`${this.clientId}\`** (source \`${this.input?.certSource ?? ''}\`)`, line].join('\n\n'));
  }

  /** Ends the run; every outcome but `rotation_started` leaves its own audit line (the rotation writes its own). */
  async end(outcome: ScheduledRotationResult['outcome'], code: string, reason: string, extra: Partial<ScheduledRotationResult> = {}): Promise<ScheduledRotationResult> {
    this.show(`outcome \`${outcome}\` (${code}): ${reason}`);
    if (outcome !== 'rotation_started') {
      const record = {
        timestamp: new Date().toISOString(),
        clientId: this.clientId,
        serviceId: this.serviceId,
        workflowId: this.info.workflowId,
        runId: this.info.runId,
        pins: this.deployedPins,
        latencyMs: Date.now() - this.startedAt,
        // No handshake was measured by this run (it only decided): not a rate of 0.
        pinMatchRate: null,
        status: outcome,
        errorCode: outcome === 'no_op' ? null : code,
        error: outcome === 'no_op' ? null : reason,
        durationMs: Date.now() - this.startedAt,
        // Beyond the rotation's fields: why a scheduled run changed nothing.
        reason,
        scheduledBy: this.info.typedSearchAttributes.get(ScheduledByIdKey) ?? null,
      };
      await CancellationScope.nonCancellable(() => this.acts.audit.writeAudit(record));
    }
    const assessment = this.assessment;
    return {
      outcome,
      code,
      reason,
      clientId: this.clientId,
      rotationWorkflowId: this.rotationId,
      ...(assessment ? { deployed: assessment.deployed, source: assessment.source } : {}),
      ...extra,
    };
  }
}

/** Reads the client and the source and decides; the certificate to rotate to, or the result the run ends with. */
async function assess(run: ScheduledRun, renewWithinMs: number): Promise<{ certificatePem: string; assessment: RenewalAssessment } | ScheduledRotationResult> {
  const { acts, clientId, input } = run;
  let certificatePem = '';
  try {
    run.show('fetching the client and the source certificate');
    const client = await acts.platform.fetchClient(clientId);
    run.deployedPins = client.pins;
    if (issuesOnDemand(input.certSource)) {
      // Nothing to compare against: judge the deployed leaf by its expiry, and issue only when rotating.
      run.assessment = await acts.local.assessRenewal({ clientId, deployedChain: client.certificateChain, renewWithinMs });
      if (run.assessment.decision === 'rotate') ({ certificatePem } = await acts.io.obtainCertificate({ clientId, source: input.certSource }));
    } else {
      ({ certificatePem } = await acts.io.obtainCertificate({ clientId, source: input.certSource }));
      run.assessment = await acts.local.assessRenewal({ clientId, deployedChain: client.certificateChain, sourceChain: certificatePem, renewWithinMs });
    }
  } catch (err) {
    if (isCancellation(err)) throw err;
    const failure = failureOf(err);
    if (failure) {
      const detail = (failure.details?.[0] ?? {}) as { code?: string };
      // Final answers (not found, bad source, bad certificate) need an operator; the rest ran out of retries.
      return run.end(failure.nonRetryable ? 'refused' : 'failed', detail.code ?? failure.type ?? 'ActivityFailed', failure.message);
    }
    if (err instanceof ActivityFailure) return run.end('failed', err.cause?.name ?? 'ActivityFailed', err.cause?.message ?? err.message);
    throw err;
  }
  return { certificatePem, assessment: run.assessment };
}

/** Starts `pin-rotation-{clientId}` as an abandoned child: it owns its lifecycle as if the CLI had started it. */
async function startRotation(run: ScheduledRun, certificatePem: string, assessment: RenewalAssessment): Promise<ScheduledRotationResult> {
  const { input, clientId } = run;
  const rotationInput: RotationInput = {
    clientId,
    certificatePem,
    ...(input.serviceId ? { serviceId: input.serviceId } : {}),
    ...(input.overlap ? { overlap: input.overlap } : {}),
    ...(input.retry ? { retry: input.retry } : {}),
    ...(input.finalizePolicy ? { finalizePolicy: input.finalizePolicy } : {}),
    ...(input.drainQuiet ? { drainQuiet: input.drainQuiet } : {}),
    ...(input.maxOverlap ? { maxOverlap: input.maxOverlap } : {}),
  };
  // Runs recorded before the ids lost their "/" start the rotation under the old id when they replay.
  if (!patched('hyphen-ids-v1')) run.rotationId = legacyIds.rotation(clientId);
  try {
    run.show(`rotating (${assessment.code}): ${assessment.reason}`);
    const child = await startChild(pinRotation, {
      workflowId: run.rotationId,
      args: [rotationInput],
      // This run ends once the rotation has started; neither its end nor its cancellation may cut the saga short.
      parentClosePolicy: ParentClosePolicy.ABANDON,
      cancellationType: ChildWorkflowCancellationType.ABANDON,
      // A closed rotation of the client (finalized, rolled back, failed) never blocks the next one.
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      typedSearchAttributes: [
        { key: ClientIdKey, value: clientId },
        { key: ServiceIdKey, value: run.serviceId },
      ],
      // What the UI lists, the same text whoever starts a rotation (static metadata: not part of the commands).
      ...rotationSummary(rotationInput, { by: 'schedule', scheduleId: run.info.typedSearchAttributes.get(ScheduledByIdKey) ?? undefined, reason: assessment.code.toLowerCase().replace(/_/g, ' ') }),
    });
    return run.end('rotation_started', assessment.code, assessment.reason, { rotationRunId: child.firstExecutionRunId });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return run.end('skipped', 'ALREADY_RUNNING', ALREADY_RUNNING_REASON);
    throw err;
  }
}

export async function scheduledRotation(input: ScheduledRotationInput): Promise<ScheduledRotationResult> {
  const run = new ScheduledRun(input);
  const { problems, renewWithinMs, tuning } = validate(input);
  if (problems.length > 0) return run.end('refused', 'INVALID_INPUT', problems.join('; '));
  run.acts = proxies(tuning);
  const assessed = await assess(run, renewWithinMs);
  if (!('assessment' in assessed)) return assessed;
  const { assessment, certificatePem } = assessed;
  if (assessment.decision === 'no_op') return run.end('no_op', assessment.code, assessment.reason);
  if (assessment.decision === 'refuse') return run.end('refused', assessment.code, assessment.reason);
  return startRotation(run, certificatePem, assessment);
}

/**
 * What `schedule create` (and `update` of the source) asks before it changes anything: does the client exist and can
 * it be rotated, and does the source answer with a certificate? Reads only: fetchClient and obtainCertificate (an
 * on-demand source issues one certificate, which is not used), then the certificate is parsed.
 */
export async function checkRotationSchedule(input: ScheduleCheckInput): Promise<ScheduleCheckResult> {
  const { problems, tuning } = validate({ ...input, renewWithin: undefined } as ScheduledRotationInput);
  if (problems.length > 0) return { ok: false, code: 'INVALID_INPUT', message: problems.join('; ') };
  const acts = proxies({ ...tuning, maximumAttempts: Math.min(tuning.maximumAttempts, input.retry?.maximumAttempts ?? 3) });
  let client: Awaited<ReturnType<Activities['fetchClient']>>;
  try {
    client = await acts.platform.fetchClient(input.clientId);
  } catch (err) {
    if (isCancellation(err)) throw err;
    const failure = failureOf(err);
    if (failure?.type === 'ClientNotFound') return { ok: false, code: 'CLIENT_NOT_FOUND', cause: failure.type, message: `no client ${input.clientId} on the platform` };
    return { ok: false, code: 'PLATFORM_UNAVAILABLE', cause: failure?.type ?? 'ActivityFailed', message: `the platform did not answer for ${input.clientId}: ${failure?.message ?? String(err)}` };
  }
  const facts = { state: client.state, mtlsRequired: client.mtlsRequired };
  if (client.state !== 'active') return { ok: false, code: 'CLIENT_NOT_ACTIVE', client: facts, message: `client ${input.clientId} is ${client.state}, not active: its rotations would be refused` };
  if (!client.mtlsRequired) return { ok: false, code: 'MTLS_NOT_REQUIRED', client: facts, message: `client ${input.clientId} does not require mTLS: its rotations would be refused` };
  try {
    const { certificatePem } = await acts.io.obtainCertificate({ clientId: input.clientId, source: input.certSource });
    const assessed = await acts.local.assessRenewal({ clientId: input.clientId, deployedChain: '', sourceChain: certificatePem, renewWithinMs: 0 });
    return { ok: true, code: 'OK', client: facts, source: assessed.source, message: `client ${input.clientId} is active with mTLS required; the source answered with ${assessed.source?.subject ?? 'a certificate'}` };
  } catch (err) {
    if (isCancellation(err)) throw err;
    const failure = failureOf(err);
    const detail = (failure?.details?.[0] ?? {}) as { code?: string };
    return { ok: false, code: 'SOURCE_UNREADABLE', client: facts, cause: detail.code ?? failure?.type ?? 'ActivityFailed', message: `the certificate source did not answer with a certificate: ${failure?.message ?? String(err)}` };
  }
}
