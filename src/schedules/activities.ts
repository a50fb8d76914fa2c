import { ApplicationFailure } from '@temporalio/common';
import { certificatePin, certificateValidity, oneLineName } from '../pins/digest';
import { CertificateError } from '../pins/errors';
import { parseCertificates } from '../pins/pem';
import { decideOnDemand, decideRenewal } from './renewal';
import { Failure, type CertificateFacts, type RenewalAssessment } from '../contract';

/**
 * The one activity a scheduled run adds to the rotation's: deciding whether a rotation is needed. Certificates are
 * parsed here, with Node's X509Certificate, because workflow code cannot; the workflow only sees the decision.
 */

export interface ScheduleActivityDeps {
  clock?: () => Date;
}

export interface AssessRenewalInput {
  clientId: string;
  /** The client's `certificateChain` as fetched (leaf first); empty when none is deployed. */
  deployedChain: string;
  /** What the certificate source returned (certificates only); absent for a source that issues on demand. */
  sourceChain?: string;
  renewWithinMs: number;
}

function leafFacts(pem: string): CertificateFacts {
  const [leaf] = parseCertificates(pem);
  if (!leaf) throw new CertificateError('NOT_A_CERTIFICATE', 'no certificate in the chain');
  return {
    subject: oneLineName(leaf.subject),
    serialNumber: leaf.serialNumber.toUpperCase(),
    notAfter: certificateValidity(leaf).notAfter.toISOString(),
    sha256Certificate: certificatePin(leaf),
  };
}

export function createScheduleActivities(deps: ScheduleActivityDeps = {}) {
  const clock = deps.clock ?? (() => new Date());
  return {
    async assessRenewal(input: AssessRenewalInput): Promise<RenewalAssessment> {
      let deployed: CertificateFacts | null = null;
      try {
        deployed = input.deployedChain.trim() ? leafFacts(input.deployedChain) : null;
      } catch {
        // An unreadable deployed chain is a reason to rotate, not a failure of the check.
        deployed = null;
      }
      if (input.sourceChain === undefined) return decideOnDemand(deployed, input.renewWithinMs, clock());
      let source: CertificateFacts;
      try {
        source = leafFacts(input.sourceChain);
      } catch (err) {
        const code = err instanceof CertificateError ? err.code : 'PEM_INVALID';
        throw ApplicationFailure.create({ message: `${code}: the certificate source returned no usable certificate`, type: Failure.CertificateInvalid, nonRetryable: true, details: [{ code }] });
      }
      return decideRenewal(deployed, source, input.renewWithinMs, clock());
    },
  };
}

export type ScheduleActivities = ReturnType<typeof createScheduleActivities>;
