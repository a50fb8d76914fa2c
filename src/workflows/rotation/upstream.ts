import { condition, setHandler, workflowInfo } from '@temporalio/workflow';
import { certificateIssuedSignal, certificateIssuedUpdate, type CertificateIssued, type RotationInput } from '../../contract';

/** Refuses an announcement that is not certificates only, before anything is written to history. */
function checkAnnouncement(issued: CertificateIssued): void {
  if (typeof issued?.certificatePem !== 'string' || !issued.certificatePem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new Error('certificatePem must be PEM text with at least one CERTIFICATE block');
  }
  if (/PRIVATE KEY-----/.test(issued.certificatePem)) throw new Error('PRIVATE_KEY_SUPPLIED: send certificates only, never a private key');
  if (issued.certificatePem.length > 256 * 1024) throw new Error('INPUT_TOO_LARGE: certificatePem is over 256 KiB');
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
      if (typeof issued?.certificatePem !== 'string') return;
      this.latest = issued;
    });
    setHandler(
      certificateIssuedUpdate,
      (issued) => {
        this.latest = issued;
        const rotates = this.consumed === undefined && !this.started().certificatePem ? 'now' : 'next';
        return { accepted: true, runId: workflowInfo().runId, rotates };
      },
      { validator: checkAnnouncement },
    );
  }

  /** Started by signal-with-start: the certificate travels in the signal, delivered with the first task. */
  async inputFrom(raw: RotationInput): Promise<RotationInput> {
    if (typeof raw?.certificatePem === 'string' && raw.certificatePem !== '') return raw;
    if (!this.latest) await condition(() => this.latest !== undefined, '1m');
    if (!this.latest) return raw;
    this.consumed = this.latest;
    return { ...raw, certificatePem: this.latest.certificatePem, serviceId: raw?.serviceId ?? this.latest.serviceId };
  }

  /** A newer certificate than the one this run rotated to, if one arrived meanwhile. */
  next(input: RotationInput): CertificateIssued | undefined {
    const next = this.latest;
    if (next && next !== this.consumed && next.certificatePem !== input.certificatePem && !input.dryRun) return next;
    return undefined;
  }
}
