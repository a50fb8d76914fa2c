import {
  Client,
  Connection,
  type ConnectionOptions,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowUpdateFailedError,
  type WorkflowHandle,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import { WorkflowIdConflictPolicy } from '@temporalio/common';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';
import { certificateBlocksOnly } from './activities/cert-source';
import { codecFromEnv } from './codec/aes-gcm';
import { probeAddress, temporalTargetFrom, TemporalUnreachableError } from './temporal/connection';
import type { pinRotation } from './workflows/rotation';
import {
  rotationResultOfFailure,
  approveSignal,
  approveUpdate,
  certificateIssuedSignal,
  finalizeNowSignal,
  finalizeNowUpdate,
  rollbackSignal,
  rollbackUpdate,
  rotationSummary,
  rotationWorkflowId,
  statusQuery,
  TASK_QUEUE,
  WORKFLOW_TYPE,
  type ActionAccepted,
  type ApproveArgs,
  type FinalizeNowArgs,
  type RollbackArgs,
  type RotationInput,
  type RotationResult,
  type RotationStatus,
} from './contract';

/** The client side of a rotation: start, wait, query, signal. Used by the CLI and by upstream integrations. */

export interface ClientOptions {
  /** Overrides of what the environment (TEMPORAL_*, envconfig profile) says. */
  address?: string;
  namespace?: string;
}

export async function connectClient(opts: ClientOptions = {}, env: NodeJS.ProcessEnv = process.env): Promise<Client> {
  const target = temporalTargetFrom(env, opts);
  const address = String(target.connectionOptions.address);
  // A wrong address fails fast and named (refused, unknown host, no answer), not after a 10 s gRPC deadline.
  const unreachable = await probeAddress(address, 3000);
  if (unreachable) throw new TemporalUnreachableError(address, unreachable);
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...(target.connectionOptions as ConnectionOptions), connectTimeout: 5_000 });
  } catch (err) {
    throw new TemporalUnreachableError(address, err instanceof Error ? err.message : String(err));
  }
  // With PAYLOAD_CODEC_KEY set, what this client sends and reads is encrypted like the worker's payloads.
  const codec = codecFromEnv(env);
  return new Client({ connection, namespace: target.namespace, ...(codec ? { dataConverter: { payloadCodecs: [codec] } } : {}) });
}

export class RotationAlreadyRunningError extends Error {
  constructor(readonly workflowId: string) {
    super(`a rotation of this client is already running (workflow ${workflowId}); wait for it, or use \`pinrotate status\` / \`rollback\``);
    this.name = 'RotationAlreadyRunningError';
  }
}

export async function startRotation(client: Client, input: RotationInput, taskQueue = TASK_QUEUE): Promise<WorkflowHandleWithFirstExecutionRunId<typeof pinRotation>> {
  const workflowId = rotationWorkflowId(input.clientId);
  try {
    return await client.workflow.start<typeof pinRotation>(WORKFLOW_TYPE, {
      taskQueue,
      workflowId,
      args: [input],
      // One rotation per client at a time, whoever starts it; a finished one may be followed by a new one.
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
      ...rotationSummary(input, { by: 'cli' }),
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) throw new RotationAlreadyRunningError(workflowId);
    throw err;
  }
}

export function rotationHandle(client: Client, clientId: string): WorkflowHandle<typeof pinRotation> {
  return client.workflow.getHandle<typeof pinRotation>(rotationWorkflowId(clientId));
}

export async function queryStatus(handle: WorkflowHandle): Promise<RotationStatus> {
  return handle.query(statusQuery);
}

export function resultFromStatus(s: RotationStatus): RotationResult {
  return {
    workflowId: s.workflowId,
    status: s.status === 'running' ? 'failed' : s.status,
    clientId: s.clientId,
    pins: s.pins,
    pinMatchRate: s.pinMatchRate,
    latencyMs: s.latencyMs,
    serviceId: s.serviceId,
    phase: s.phase,
    error: s.lastError,
    warnings: s.warnings ?? [],
    ...(s.pinMatch ? { pinMatch: s.pinMatch } : {}),
  };
}

/** Phases in which the new pins are live and the old primary is still pinned as fallback. */
const LIVE_PHASES: readonly string[] = ['overlap', 'draining'];

/**
 * Waits for the rotation to end, or (with `untilOverlap`) only until the new pins are live and the overlap
 * window runs, which is reported as `rotated`. Polls the status query; the workflow's own result wins a race.
 *
 * `handle.result()` is a long poll the server holds open for up to 20 s; when the status poll answers first, that
 * call is aborted here, or it keeps the channel (and the process) alive after the connection is closed.
 */
export async function waitForRotation(handle: WorkflowHandle<typeof pinRotation>, opts: { untilOverlap: boolean; pollMs?: number; onStatus?: (s: RotationStatus) => void }): Promise<RotationResult> {
  let done = false;
  const abort = new AbortController();
  const final = handle.client.withAbortSignal(abort.signal, () => handle.result()).then(
    (result) => result,
    async (err) => {
      // A failed rotation carries its result in the failure (DESIGN.md §4 Outcomes).
      const failed = rotationResultOfFailure(err);
      if (failed) return failed;
      // Cancelled or terminated: the status query still tells what the saga did.
      if (err instanceof WorkflowFailedError) {
        try {
          return resultFromStatus(await queryStatus(handle));
        } catch {
          // fall through
        }
      }
      throw err;
    },
  );
  final.finally(() => {
    done = true;
  }).catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const poll = async (): Promise<RotationResult | undefined> => {
    let lastPhase = '';
    while (!done) {
      await new Promise((r) => (timer = setTimeout(r, opts.pollMs ?? 500)));
      if (done) return undefined;
      try {
        const s = await queryStatus(handle);
        if (s.phase !== lastPhase) {
          lastPhase = s.phase;
          opts.onStatus?.(s);
        }
        if (opts.untilOverlap && LIVE_PHASES.includes(s.phase)) return { ...resultFromStatus(s), status: 'rotated' };
      } catch {
        // The workflow may not have run its first task yet; keep polling.
      }
    }
    return undefined;
  };
  try {
    const first = await Promise.race([final, poll()]);
    if (first) return first;
    return await final;
  } finally {
    done = true;
    if (timer) clearTimeout(timer);
    abort.abort();
  }
}

/** The input the running rotation was started with (first history event), decoded like any payload; undefined if unreadable. */
export async function rotationStartInput(client: Client, handle: WorkflowHandle): Promise<RotationInput | undefined> {
  try {
    const history = await handle.fetchHistory();
    const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
    return await decodeFromPayloadsAtIndex<RotationInput>(client.workflow.options.loadedDataConverter, 0, started?.input?.payloads);
  } catch {
    return undefined;
  }
}

export async function describeRotation(client: Client, clientId: string) {
  const handle = rotationHandle(client, clientId);
  const description = await handle.describe();
  let status: RotationStatus | undefined;
  try {
    status = await queryStatus(handle);
  } catch {
    status = undefined;
  }
  const pending = (description.raw.pendingActivities ?? []).map((a) => ({
    activity: a.activityType?.name ?? 'unknown',
    attempt: a.attempt ?? 0,
    lastFailure: a.lastFailure?.message ?? null,
  }));
  return { handle, description, status, pending };
}

/**
 * What an upstream PKI manager calls when it has issued a certificate: signal-with-start of `certificateIssued`.
 * No rotation running → one starts with this certificate; one running → it rotates to this one when it ends.
 */
export async function announceCertificate(
  client: Client,
  opts: { clientId: string; certificatePem: string; serviceId?: string; overlap?: string; taskQueue?: string; retry?: RotationInput['retry'] },
): Promise<WorkflowHandle<typeof pinRotation>> {
  // Only certificate blocks travel: a private key pasted by mistake is refused here, before it reaches history.
  const certificatePem = certificateBlocksOnly(opts.certificatePem);
  return client.workflow.signalWithStart(WORKFLOW_TYPE, {
    taskQueue: opts.taskQueue ?? TASK_QUEUE,
    workflowId: rotationWorkflowId(opts.clientId),
    args: [{ clientId: opts.clientId, certificatePem: '', ...(opts.serviceId ? { serviceId: opts.serviceId } : {}), ...(opts.overlap ? { overlap: opts.overlap } : {}), ...(opts.retry ? { retry: opts.retry } : {}) }],
    signal: certificateIssuedSignal,
    signalArgs: [{ certificatePem, ...(opts.serviceId ? { serviceId: opts.serviceId } : {}) }],
    // Only when this call starts the rotation does the summary apply (a running one keeps its own).
    ...rotationSummary({ clientId: opts.clientId, serviceId: opts.serviceId, overlap: opts.overlap }, { by: 'upstream', via: 'signal-with-start' }),
  });
}

/** An operator action and its arguments, as the rotation's updates define them (src/contract/messages.ts). */
export type OperatorRequest = { action: 'approve'; args: ApproveArgs } | { action: 'finalizeNow'; args: FinalizeNowArgs } | { action: 'rollback'; args: RollbackArgs };

/** The rotation refused the action (its validator's reason); nothing was recorded. */
export class ActionRefusedError extends Error {
  constructor(
    readonly action: OperatorRequest['action'],
    readonly reason: string,
  ) {
    super(`${action} refused: ${reason}`);
    this.name = 'ActionRefusedError';
  }
}

/** Sends an operator action as an update: it is accepted (and applied) or refused with the rotation's reason. */
export async function requestAction(client: Client, clientId: string, request: OperatorRequest): Promise<ActionAccepted> {
  const handle = rotationHandle(client, clientId);
  try {
    if (request.action === 'approve') return await handle.executeUpdate(approveUpdate, { args: [request.args] });
    if (request.action === 'finalizeNow') return await handle.executeUpdate(finalizeNowUpdate, { args: [request.args] });
    return await handle.executeUpdate(rollbackUpdate, { args: [request.args] });
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) throw new ActionRefusedError(request.action, err.cause?.message ?? err.message);
    throw err;
  }
}

/**
 * The same action as a signal, as the Temporal UI sends it: no answer; a refused one is ignored by the rotation
 * and listed in `status.refusedActions`. Prefer `requestAction`.
 */
export async function signalRotation(client: Client, clientId: string, action: OperatorRequest['action'], args: ApproveArgs | FinalizeNowArgs | RollbackArgs = {}): Promise<void> {
  const handle = rotationHandle(client, clientId);
  if (action === 'approve') await handle.signal(approveSignal, args);
  else if (action === 'finalizeNow') await handle.signal(finalizeNowSignal, args);
  else await handle.signal(rollbackSignal, args);
}
