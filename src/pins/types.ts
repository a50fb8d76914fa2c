/** Shapes of the platform contract (DESIGN.md §2) shared by the workflow, the activities and the emulator. */

export type PinRole = 'primary' | 'fallback' | 'backup';

export interface Pin {
  role: PinRole;
  /** base64 SHA-256 of the DER SubjectPublicKeyInfo (RFC 7469 pin-sha256). */
  sha256Spki: string;
  /** base64 SHA-256 of the whole DER certificate. */
  sha256Certificate: string;
  notAfter: string;
  serialNumber: string;
  subject: string;
}

/** What `pinrotate pins --json` prints per certificate (DESIGN.md §6). */
export interface CertificateInfo {
  subject: string;
  issuer: string;
  serialNumber: string;
  notBefore: string;
  notAfter: string;
  sha256Spki: string;
  sha256Certificate: string;
}

export const MAX_PINS = 3;
