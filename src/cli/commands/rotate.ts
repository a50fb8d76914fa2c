import { CertificateError } from '../../pins/errors';
import { DEFAULT_MAX_PEM_BYTES, splitPem } from '../../pins/pem';
import { parseDuration } from '../../pins/duration';
import { RotationAlreadyRunningError, connectClient, startRotation, waitForRotation } from '../../starter';
import { FINALIZE_POLICIES, rotationWorkflowId, type FinalizePolicy, type RotationInput, type RotationResult } from '../../contract';
import { parse, temporalOptions, temporalTarget, UsageError } from '../usage';
import { readFileBounded, tooLargeProblem } from '../io';
import { printResult, safeJson, safeText } from '../output';

const HELP = `usage: pinrotate rotate --client ID --cert FILE [options]

  --cert FILE             the new certificate chain (PEM, leaf first; certificates only)
  --overlap D             how long the old primary stays as fallback at least (default 7d; 0s: no timer)
  --finalize-policy P     after the overlap: drain (default: finalize once the gateway saw no handshake with the
                          old certificate for --drain-quiet) or time (finalize when the timer ends)
  --drain-quiet D         quiet time the fallback pin needs before a drain finalizes (default 1h)
  --max-overlap D         from apply: past it a draining rotation waits for an operator (default 30d, at most 90d)
  --service-id ID         service name reported to the PKI manager (default: the client id)
  --dry-run               plan only: validate and print the planned pins, change nothing
  --approve-required      wait for \`pinrotate approve\` before applying
  --approval-timeout D    give up (nothing changed) when not approved in time (default 24h)
  --probe-key-new PATH    key of the new certificate on the worker: verify with a real mTLS handshake
  --probe-key-old PATH    key of the current certificate on the worker: verify it still works in the overlap
  --wait                  wait until the new pins are live (and finalized when the overlap is 0s)
  --wait-finalize         wait through the overlap window until the rotation ends
  --json                  print the result as JSON: {"workflowId","status","clientId","pins","pinMatchRate","latencyMs",…}
  --address HOST:PORT     Temporal frontend (default $TEMPORAL_ADDRESS or 127.0.0.1:7233)
  --namespace NS          (default $TEMPORAL_NAMESPACE or default)
  --task-queue Q          (default $TEMPORAL_TASK_QUEUE or pin-rotation)

Exit codes: 0 rotated, finalized or dry run; 1 refused, rolled back or failed; 2 usage.
`;

/** Only certificate blocks travel in the workflow input: surrounding text is dropped, keys never get that far. */
function certificatesOnly(raw: Buffer): string {
  const blocks = splitPem(raw, { maxBytes: DEFAULT_MAX_PEM_BYTES });
  return blocks
    .filter((b) => b.label === 'CERTIFICATE')
    .map((b) => `-----BEGIN CERTIFICATE-----\n${b.der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`)
    .join('');
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    ...temporalOptions,
    client: { type: 'string' },
    cert: { type: 'string' },
    overlap: { type: 'string' },
    'finalize-policy': { type: 'string' },
    'drain-quiet': { type: 'string' },
    'max-overlap': { type: 'string' },
    'service-id': { type: 'string' },
    'dry-run': { type: 'boolean' },
    'approve-required': { type: 'boolean' },
    'approval-timeout': { type: 'string' },
    'probe-key-new': { type: 'string' },
    'probe-key-old': { type: 'string' },
    wait: { type: 'boolean' },
    'wait-finalize': { type: 'boolean' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (!values.client) throw new UsageError('--client ID is required');
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(values.client)) throw new UsageError('--client must be 1-128 letters, digits, ".", "_" or "-"');
  if (!values.cert) throw new UsageError('--cert FILE is required');
  const policy = values['finalize-policy'];
  if (policy !== undefined && !FINALIZE_POLICIES.includes(policy as FinalizePolicy)) throw new UsageError(`--finalize-policy must be drain or time (got "${policy}")`);
  for (const flag of ['overlap', 'approval-timeout', 'drain-quiet', 'max-overlap'] as const) {
    const v = values[flag];
    if (v !== undefined) {
      try {
        parseDuration(v);
      } catch {
        throw new UsageError(`--${flag} must be a duration like 7d, 12h, 30m or 0s (got "${v}")`);
      }
    }
  }
  const workflowId = rotationWorkflowId(values.client);
  const read = await readFileBounded(values.cert, DEFAULT_MAX_PEM_BYTES);
  let certificatePem: string;
  try {
    if (read.tooLarge) throw new CertificateError('INPUT_TOO_LARGE', tooLargeProblem(DEFAULT_MAX_PEM_BYTES).message);
    certificatePem = certificatesOnly(read.bytes);
  } catch (err) {
    if (!(err instanceof CertificateError)) throw err;
    // Refused here, before anything (in particular a private key) can reach the workflow's history.
    const result: RotationResult = {
      workflowId,
      status: 'refused',
      clientId: values.client,
      pins: [],
      pinMatchRate: null,
      latencyMs: null,
      serviceId: values['service-id'] ?? values.client,
      phase: 'preflight',
      error: { code: err.code, message: err.message, problems: err.problems },
      warnings: [],
    };
    printResult(result, Boolean(values.json));
    return 1;
  }

  const input: RotationInput = {
    clientId: values.client,
    certificatePem,
    ...(values['service-id'] ? { serviceId: values['service-id'] } : {}),
    overlap: values.overlap ?? '7d',
    ...(policy ? { finalizePolicy: policy as FinalizePolicy } : {}),
    ...(values['drain-quiet'] ? { drainQuiet: values['drain-quiet'] } : {}),
    ...(values['max-overlap'] ? { maxOverlap: values['max-overlap'] } : {}),
    ...(values['dry-run'] ? { dryRun: true } : {}),
    ...(values['approve-required'] ? { approval: { required: true, ...(values['approval-timeout'] ? { timeout: values['approval-timeout'] } : {}) } } : {}),
    ...(values['probe-key-new'] || values['probe-key-old'] ? { probe: { newKeyPath: values['probe-key-new'], oldKeyPath: values['probe-key-old'] } } : {}),
  };

  const target = temporalTarget(values);
  const client = await connectClient(target);
  try {
    let handle;
    try {
      handle = await startRotation(client, input, target.taskQueue);
    } catch (err) {
      if (err instanceof RotationAlreadyRunningError) {
        if (values.json) process.stdout.write(`${safeJson({ workflowId, status: 'refused', clientId: values.client, error: { code: 'ALREADY_RUNNING', message: err.message } })}\n`);
        process.stderr.write(`pinrotate: ${safeText(err.message)}\n`);
        return 1;
      }
      throw err;
    }
    const wait = values.wait || values['wait-finalize'] || values['dry-run'];
    if (!wait) {
      if (values.json) process.stdout.write(`${safeJson({ workflowId: handle.workflowId, runId: handle.firstExecutionRunId, status: 'started', clientId: values.client })}\n`);
      else process.stdout.write(`started ${safeText(handle.workflowId)} (run ${safeText(handle.firstExecutionRunId)}); follow it with \`pinrotate status --client ${safeText(values.client)}\`\n`);
      return 0;
    }
    const result = await waitForRotation(handle, {
      untilOverlap: !values['wait-finalize'],
      onStatus: values.json ? undefined : (s) => process.stderr.write(`… ${safeText(s.phase)}\n`),
    });
    printResult(result, Boolean(values.json));
    return ['finalized', 'rotated', 'dry_run'].includes(result.status) ? 0 : 1;
  } finally {
    await client.connection.close();
  }
}
