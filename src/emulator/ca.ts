import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import forge from 'node-forge';
import { certificatePin, certificateValidity, oneLineName, spkiPin } from '../pins/digest';
import { HttpError } from './http-util';
import type { IssuedCertificate, IssueRequest, KeyType } from './types';

export const CA_COMMON_NAME = 'GenesysCloudArchitectureCA';

/** RSA sizes by key type. 'rsa-1024' is deliberately weak so validation tests can provoke KEY_TOO_WEAK. */
const RSA_BITS: Record<KeyType, number> = {
  rsa: 2048,
  'rsa-1024': 1024,
  'rsa-2048': 2048,
  'rsa-3072': 3072,
  'rsa-4096': 4096,
};
export const KEY_TYPES = Object.keys(RSA_BITS) as KeyType[];

const MAX_DAYS = 3650;
/** One minute: lifecycle soaks issue certificates that live minutes. */
const MIN_DAYS = 1 / 1440;
const DAY_MS = 86_400_000;
/** Issued keys remembered for field clients; the oldest are forgotten past this. */
export const MAX_REMEMBERED_KEYS = 10_000;

/** A certificate this CA issued, with its key: what a field client deploys. Never logged, never served by a GET. */
export interface IssuedKeyRecord {
  certificatePem: string;
  privateKeyPem: string;
  sha256Spki: string;
  sha256Certificate: string;
  subject: string;
  serialNumber: string;
  notAfter: string;
}

/** What persistence keeps of the CA itself. */
export interface CaState {
  certificatePem: string;
  privateKeyPem: string;
}

interface KeyPair {
  privateKeyPem: string;
  forgePublic: forge.pki.rsa.PublicKey;
}

/** Node's native keygen: forge's pure-JS RSA keygen takes seconds per key. */
function rsaKeyPair(bits: number): KeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: bits,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { privateKeyPem: privateKey, forgePublic: forge.pki.publicKeyFromPem(publicKey) };
}

/** 16 random bytes with the top bit clear: a positive DER INTEGER, never zero. */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] & 0x7f) | 0x01;
  return bytes.toString('hex');
}

function validity(cert: forge.pki.Certificate, days: number): void {
  const now = Date.now();
  // A minute of backdating absorbs small clock skew between the emulator and its clients.
  cert.validity.notBefore = new Date(now - 60_000);
  cert.validity.notAfter = new Date(now + days * DAY_MS);
}

export function validateIssueRequest(input: IssueRequest): Required<IssueRequest> {
  const commonName = input.commonName;
  // eslint-disable-next-line no-control-regex
  if (typeof commonName !== 'string' || commonName.trim().length === 0 || commonName.length > 64 || /[\u0000-\u001f\u007f]/.test(commonName)) {
    throw new HttpError(400, 'commonName must be a non-empty string of at most 64 printable characters.', {
      details: [{ errorCode: 'FIELD_INVALID', fieldName: 'commonName' }],
    });
  }
  const days = input.days ?? 90;
  if (typeof days !== 'number' || !Number.isFinite(days) || days < MIN_DAYS || days > MAX_DAYS) {
    throw new HttpError(400, `days must be a number from ${MIN_DAYS.toFixed(6)} (one minute) to ${MAX_DAYS}; fractions are allowed.`, {
      details: [{ errorCode: 'FIELD_INVALID', fieldName: 'days' }],
    });
  }
  const keyType = input.keyType ?? 'rsa';
  if (!Object.prototype.hasOwnProperty.call(RSA_BITS, keyType)) {
    throw new HttpError(400, `keyType must be one of ${KEY_TYPES.join(', ')}.`, {
      details: [{ errorCode: 'KEY_TYPE_UNSUPPORTED', fieldName: 'keyType' }],
    });
  }
  return { commonName, days, keyType };
}

/**
 * The emulator's `GenesysCloudArchitectureCA`: a self-signed root made at start (or restored from a data
 * directory). It remembers the keys of the client certificates it issued (in memory, bounded), so field
 * clients can present them in real handshakes.
 */
export class EmulatorCa {
  readonly certificatePem: string;
  private readonly keyPem: string;
  private readonly cert: forge.pki.Certificate;
  private readonly key: forge.pki.rsa.PrivateKey;
  private readonly issued = new Map<string, IssuedKeyRecord>();
  private readonly listeners: Array<() => void> = [];

  constructor(state?: CaState) {
    if (state) {
      this.cert = forge.pki.certificateFromPem(state.certificatePem);
      this.key = forge.pki.privateKeyFromPem(state.privateKeyPem) as forge.pki.rsa.PrivateKey;
      if (this.cert.subject.getField('CN')?.value !== CA_COMMON_NAME) throw new Error(`the stored CA is not ${CA_COMMON_NAME}`);
      this.certificatePem = state.certificatePem;
      this.keyPem = state.privateKeyPem;
      return;
    }
    const pair = rsaKeyPair(2048);
    this.key = forge.pki.privateKeyFromPem(pair.privateKeyPem) as forge.pki.rsa.PrivateKey;
    const cert = forge.pki.createCertificate();
    cert.publicKey = pair.forgePublic;
    cert.serialNumber = randomSerial();
    validity(cert, MAX_DAYS);
    const name = [{ name: 'commonName', value: CA_COMMON_NAME }, { name: 'organizationName', value: 'Genesys Pin Rotation Emulator' }];
    cert.setSubject(name);
    cert.setIssuer(name);
    cert.setExtensions([
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
      { name: 'subjectKeyIdentifier' },
    ]);
    cert.sign(this.key, forge.md.sha256.create());
    this.cert = cert;
    this.certificatePem = forge.pki.certificateToPem(cert);
    this.keyPem = pair.privateKeyPem;
  }

  /** The CA's certificate and key, for the data directory only. */
  exportState(): CaState {
    return { certificatePem: this.certificatePem, privateKeyPem: this.keyPem };
  }

  /** The issued certificate (and key) whose SPKI digest is `sha256Spki`, if this CA issued it. */
  issuedBySpki(sha256Spki: string): IssuedKeyRecord | undefined {
    return this.issued.get(sha256Spki);
  }

  exportIssued(): IssuedKeyRecord[] {
    return [...this.issued.values()];
  }

  restoreIssued(records: IssuedKeyRecord[]): void {
    for (const r of records.slice(-MAX_REMEMBERED_KEYS)) this.remember(r);
  }

  /** Calls `listener` after every issue (persistence). */
  onIssued(listener: () => void): void {
    this.listeners.push(listener);
  }

  private remember(record: IssuedKeyRecord): void {
    this.issued.delete(record.sha256Spki);
    this.issued.set(record.sha256Spki, record);
    if (this.issued.size > MAX_REMEMBERED_KEYS) {
      const oldest = this.issued.keys().next().value;
      if (oldest !== undefined) this.issued.delete(oldest);
    }
  }

  /** A client certificate (clientAuth) for `commonName`. Throws HttpError 400 on bad input. */
  issue(request: IssueRequest): IssuedCertificate {
    const { commonName, days, keyType } = validateIssueRequest(request);
    const issued = this.sign(commonName, days, RSA_BITS[keyType], [{ name: 'extKeyUsage', clientAuth: true }]);
    const x509 = new X509Certificate(issued.certificatePem);
    this.remember({
      ...issued,
      sha256Spki: spkiPin(x509),
      sha256Certificate: certificatePin(x509),
      subject: oneLineName(x509.subject),
      serialNumber: x509.serialNumber,
      notAfter: certificateValidity(x509).notAfter.toISOString(),
    });
    for (const listener of this.listeners) listener();
    return issued;
  }

  /** The mTLS listener's own certificate, valid for localhost, 127.0.0.1, ::1 and any extra host names. */
  issueServerCert(hosts: string[] = []): IssuedCertificate {
    const names = [...new Set(['localhost', '127.0.0.1', '::1', ...hosts.filter((h) => h.length > 0)])];
    const altNames = names.map((h) => (isIP(h) ? { type: 7, ip: h } : { type: 2, value: h }));
    return this.sign('localhost', 825, 2048, [
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames },
    ]);
  }

  private sign(commonName: string, days: number, bits: number, extra: object[]): IssuedCertificate {
    const pair = rsaKeyPair(bits);
    const cert = forge.pki.createCertificate();
    cert.publicKey = pair.forgePublic;
    cert.serialNumber = randomSerial();
    validity(cert, days);
    cert.setSubject([{ name: 'commonName', value: commonName }]);
    cert.setIssuer(this.cert.subject.attributes);
    cert.setExtensions([
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      ...extra,
      { name: 'subjectKeyIdentifier' },
      { name: 'authorityKeyIdentifier', keyIdentifier: this.cert.generateSubjectKeyIdentifier().getBytes() },
    ]);
    cert.sign(this.key, forge.md.sha256.create());
    return { certificatePem: forge.pki.certificateToPem(cert), privateKeyPem: pair.privateKeyPem };
  }
}
