/**
 * Certificate error codes (DESIGN.md §5, fixed). The order of this list is also the headline order:
 * when a chain has several problems, the one whose code comes first here is reported as `error`.
 */
export const CERTIFICATE_ERROR_CODES = [
  'INPUT_TOO_LARGE',
  'PRIVATE_KEY_SUPPLIED',
  'PEM_INVALID',
  'NOT_A_CERTIFICATE',
  'CERT_NOT_YET_VALID',
  'CERT_EXPIRED',
  'EXPIRES_TOO_SOON',
  'CERT_IS_CA',
  'KEY_TOO_WEAK',
  'WEAK_SIGNATURE_ALGORITHM',
  'EKU_MISSING_CLIENT_AUTH',
  'PATH_LEN_EXCEEDED',
  'NOT_A_CA',
  'UNKNOWN_CRITICAL_EXTENSION',
  'ISSUER_MISMATCH',
  'IDENTITY_MISMATCH',
  'SIGNATURE_INVALID',
] as const;

export type CertificateErrorCode = (typeof CERTIFICATE_ERROR_CODES)[number];

export interface Problem {
  code: CertificateErrorCode;
  /** Says what is wrong without echoing the input (never any key material). */
  message: string;
}

export function isCertificateErrorCode(value: unknown): value is CertificateErrorCode {
  return typeof value === 'string' && (CERTIFICATE_ERROR_CODES as readonly string[]).includes(value);
}

/** Sorts problems into the headline order above; stable for problems that share a code. */
export function sortProblems(problems: readonly Problem[]): Problem[] {
  const rank = (p: Problem): number => CERTIFICATE_ERROR_CODES.indexOf(p.code);
  return problems
    .map((p, i) => ({ p, i }))
    .sort((a, b) => rank(a.p) - rank(b.p) || a.i - b.i)
    .map(({ p }) => p);
}

/** The one error type `src/pins` throws for bad certificate input. `code` is the headline problem's code. */
export class CertificateError extends Error {
  override readonly name = 'CertificateError';
  readonly code: CertificateErrorCode;
  readonly problems: Problem[];

  constructor(code: CertificateErrorCode, message: string, problems?: Problem[]) {
    super(message);
    this.code = code;
    this.problems = problems && problems.length > 0 ? problems : [{ code, message }];
  }

  /** Builds the error from a non-empty problem list; the headline is the first in the fixed order. */
  static fromProblems(problems: readonly Problem[]): CertificateError {
    if (problems.length === 0) throw new TypeError('CertificateError.fromProblems needs at least one problem');
    const sorted = sortProblems(problems);
    return new CertificateError(sorted[0].code, sorted[0].message, sorted);
  }

  /** The first problem, in the `{code, message}` shape the CLI and activities report. */
  get problem(): Problem {
    return { code: this.code, message: this.message };
  }
}

/**
 * Makes a value from a certificate (a subject, an issuer CN) safe to put in a message or a log line:
 * control characters become '?', and long values are cut, so hostile names cannot forge log lines.
 */
export function safeText(value: string, maxLength = 160): string {
  // eslint-disable-next-line no-control-regex
  const cleaned = value.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?');
  return cleaned.length > maxLength ? `${cleaned.slice(0, maxLength)}…` : cleaned;
}
