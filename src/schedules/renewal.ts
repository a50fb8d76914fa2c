import { formatDuration } from '../pins/duration';
import type { CertificateFacts, RenewalAssessment } from '../contract';

/**
 * Whether a scheduled run should rotate, as cert-manager decides a renewal: the deployed leaf expires within the
 * renewal window, or the source now holds a different leaf (compared by SHA-256 of the DER certificate).
 * An expiring leaf the source has not replaced yet cannot be fixed by rotating: that is refused, loudly.
 */
export function decideRenewal(deployed: CertificateFacts | null, source: CertificateFacts, renewWithinMs: number, now: Date): RenewalAssessment {
  const base = { deployed, source };
  if (!deployed) {
    return { ...base, decision: 'rotate', code: 'NO_DEPLOYED_CERTIFICATE', reason: 'the client has no readable deployed certificate' };
  }
  const remainingMs = Date.parse(deployed.notAfter) - now.getTime();
  const expiring = remainingMs <= renewWithinMs;
  const window = formatDuration(renewWithinMs);
  const differs = deployed.sha256Certificate !== source.sha256Certificate;
  if (differs && expiring) {
    return { ...base, decision: 'rotate', code: 'EXPIRES_SOON', reason: `the deployed certificate expires ${deployed.notAfter}, within the renewal window of ${window}` };
  }
  if (differs) {
    return { ...base, decision: 'rotate', code: 'SOURCE_CHANGED', reason: `the source holds a different certificate (serial ${source.serialNumber}) than the deployed one (serial ${deployed.serialNumber})` };
  }
  if (expiring) {
    return {
      ...base,
      decision: 'refuse',
      code: 'SOURCE_NOT_RENEWED',
      reason: `the deployed certificate expires ${deployed.notAfter}, within the renewal window of ${window}, but the source still holds that same certificate: renew it at the source`,
    };
  }
  return { ...base, decision: 'no_op', code: 'UP_TO_DATE', reason: `the deployed certificate is the source's and is valid until ${deployed.notAfter}, beyond the renewal window of ${window}` };
}

/**
 * The same decision for a source that issues on demand (`emulator-ca`): it has no "current" certificate to compare,
 * so only the deployed leaf's expiry counts, and a certificate is issued only when the answer is to rotate.
 */
export function decideOnDemand(deployed: CertificateFacts | null, renewWithinMs: number, now: Date): RenewalAssessment {
  const base = { deployed, source: null };
  if (!deployed) return { ...base, decision: 'rotate', code: 'NO_DEPLOYED_CERTIFICATE', reason: 'the client has no readable deployed certificate' };
  const window = formatDuration(renewWithinMs);
  if (Date.parse(deployed.notAfter) - now.getTime() <= renewWithinMs) {
    return { ...base, decision: 'rotate', code: 'EXPIRES_SOON', reason: `the deployed certificate expires ${deployed.notAfter}, within the renewal window of ${window}` };
  }
  return { ...base, decision: 'no_op', code: 'UP_TO_DATE', reason: `the deployed certificate is valid until ${deployed.notAfter}, beyond the renewal window of ${window}; the source issues on demand` };
}
