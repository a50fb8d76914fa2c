import type { ClientAndCertificate } from '../../activities';
import { Failure } from '../../contract';
import { PlanError, planRotation } from '../../pins/plan';
import type { Pin } from '../../pins/types';
import { failureOf } from '../failure-of';
import { errorOf, Refusal } from './errors';
import { patchedBefore, type RotationRun } from './run';

/** 1. Preflight: read the client, check the certificate, plan the pins. Nothing is written; any problem is a refusal. */
export async function preflight(run: RotationRun): Promise<void> {
  const { input, state } = run;
  let read: ClientAndCertificate;
  try {
    // Lean runs read the client and validate the chain for it in one activity (one task, one platform call).
    read = run.lean ? await run.acts.platform.fetchClientAndValidate({ clientId: input.clientId, certificatePem: input.certificatePem }) : { client: await run.acts.platform.fetchClient(input.clientId) };
  } catch (err) {
    if (failureOf(err)?.type === Failure.ClientNotFound) throw new Refusal('CLIENT_NOT_FOUND', `no OAuth client ${input.clientId} on the platform`);
    throw err;
  }
  const before = read.client;
  run.before = before;
  state.status.pinsBefore = before.pins;
  state.status.pins = before.pins;
  if (before.state !== 'active') throw new Refusal('CLIENT_NOT_ACTIVE', `client ${input.clientId} is ${before.state}, not active`);
  if (!before.mtlsRequired) throw new Refusal('MTLS_NOT_REQUIRED', `client ${input.clientId} does not require mTLS; pins would not be enforced`);
  run.leafPin = run.lean ? validated(run, read) : await validateCertificate(run);
  await checkProbeKeys(run);
  try {
    state.status.plannedPins = planRotation(before.pins, run.leafPin);
  } catch (err) {
    if (err instanceof PlanError) throw new Refusal(err.code, err.message);
    throw err;
  }
}

/** The chain as fetchClientAndValidate judged it for this client: its leaf pin, or the refusal. */
function validated(run: RotationRun, read: ClientAndCertificate): Pin {
  if (read.certificateRefusal) {
    const r = read.certificateRefusal;
    throw new Refusal(r.code, r.message, r.problems);
  }
  if (!read.certificate) throw new Refusal('CERTIFICATE_INVALID', 'the worker returned no validation of the certificate chain');
  run.state.status.newCertificate = read.certificate.certificates[0];
  return read.certificate.leafPin;
}

async function validateCertificate(run: RotationRun): Promise<Pin> {
  try {
    // The client's id and platform name: the leaf must name one of them (or a CERT_IDENTITY_MAP name): IDENTITY_MISMATCH.
    const cert = await run.acts.local.validateCertificate({ certificatePem: run.input.certificatePem, clientId: run.input.clientId, clientName: run.before?.name });
    run.state.status.newCertificate = cert.certificates[0];
    return cert.leafPin;
  } catch (err) {
    if (failureOf(err)?.type === Failure.CertificateInvalid) {
      const e = errorOf(err);
      throw new Refusal(e.code, e.message, e.problems);
    }
    throw err;
  }
}

/**
 * Probe key paths come from the input: the worker checks them against PROBE_KEY_DIR now, so a refused path
 * (`/dev/zero`, a fifo, /proc) ends the run `refused` before Apply instead of rolled back after it.
 */
async function checkProbeKeys(run: RotationRun): Promise<void> {
  const probe = run.input.probe;
  if (probe?.newKeyPath === undefined && probe?.oldKeyPath === undefined) return;
  if (!patchedBefore(run, 'probe-preflight-v1')) return;
  try {
    await run.acts.local.checkProbeInputs({ newKeyPath: probe.newKeyPath, oldKeyPath: probe.oldKeyPath });
  } catch (err) {
    const failure = failureOf(err);
    if (failure?.nonRetryable) throw new Refusal('PROBE_INPUT_REFUSED', failure.message);
    throw err;
  }
}
