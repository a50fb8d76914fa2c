import { condition, patched, setHandler, workflowInfo } from '@temporalio/workflow';
import { certificateIssuedSignal, certificateIssuedUpdate, type CertificateIssued, type RotationInput } from '../../contract';
import { certificatesOnly, CertificatesOnlyError } from '../../pins/certificates-only';
import { SERVICE_ID_MAX_LENGTH, shownText } from './input';

/**
 * The announcement as it is kept: only its re-framed certificates, a bounded service id. Throws (the update's
 * validator: refused before history) for key material, an oversized chain or no certificate block.
 */
function admitted(issued: CertificateIssued): CertificateIssued {
  if (typeof issued !== 'object' || issued === null) throw new Error('certificateIssued takes {certificatePem, serviceId?}');
  let pem: string;
  try {
    pem = certificatesOnly(issued.certificatePem).pem;
  } catch (err) {
    if (err instanceof CertificatesOnlyError) throw new Error(`${err.code}: ${err.message}`);
    throw err;
  }
  if (issued.serviceId !== undefined && (typeof issued.serviceId !== 'string' || shownText(issued.serviceId, SERVICE_ID_MAX_LENGTH) !== issued.serviceId)) {
    throw new Error(`serviceId must be text of at most ${SERVICE_ID_MAX_LENGTH} characters without control characters`);
  }
  return { certificatePem: pem, ...(issued.serviceId !== undefined ? { serviceId: issued.serviceId } : {}) };
}

function checkAnnouncement(issued: CertificateIssued): void {
  admitted(issued);
}

/**
 * Certificates an upstream PKI manager announced (`certificateIssued`, signal or update): the one this run
 * started with, and the newest, rotated to right after this run ends.
 */
export class Announcements {
  latest?: CertificateIssued;
  consumed?: CertificateIssued;

  constructor(private readonly started: () => RotationInput) {}

  register(): void {
    setHandler(certificateIssuedSignal, (issued) => {
      // A signal cannot be refused to its sender: one that is not certificates only is dropped.
      try {
        this.latest = admitted(issued);
      } catch {
        return;
      }
    });
    setHandler(
      certificateIssuedUpdate,
      (issued) => {
        this.latest = admitted(issued);
        const rotates = this.consumed === undefined && !this.started().certificatePem ? 'now' : 'next';
        return { accepted: true, runId: workflowInfo().runId, rotates };
      },
      { validator: checkAnnouncement },
    );
  }

  /** Started by signal-with-start: the certificate travels in the signal, delivered with the first task. */
  async inputFrom(raw: RotationInput): Promise<RotationInput> {
    if (typeof raw?.certificatePem === 'string' && raw.certificatePem !== '') return raw;
    // Not an object: validation refuses it at once; runs started so before this check waited for a signal first.
    if ((typeof raw !== 'object' || raw === null || Array.isArray(raw)) && patched('refuse-non-object-input-v1')) return raw;
    if (!this.latest) await condition(() => this.latest !== undefined, '1m', { summary: 'waiting for certificateIssued (1m)' });
    if (!this.latest) return raw;
    this.consumed = this.latest;
    return { ...raw, certificatePem: this.latest.certificatePem, serviceId: raw?.serviceId ?? this.latest.serviceId };
  }

  /** A newer certificate than the one this run rotated to, if one arrived meanwhile. */
  next(input: RotationInput): CertificateIssued | undefined {
    const next = this.latest;
    if (next && next !== this.consumed && next.certificatePem !== input.certificatePem && next.certificatePem !== reframedOrSame(input.certificatePem) && !input.dryRun) return next;
    return undefined;
  }
}

function reframedOrSame(pem: string): string {
  try {
    return certificatesOnly(pem).pem;
  } catch {
    return pem;
  }
}
