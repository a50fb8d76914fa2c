/** Pure certificate logic (no I/O): PEM framing, digests, validation and pin-set planning. */
export { MAX_PINS, type CertificateInfo, type Pin, type PinRole } from './types';
export {
  CERTIFICATE_ERROR_CODES,
  CertificateError,
  isCertificateErrorCode,
  safeText,
  sortProblems,
  type CertificateErrorCode,
  type Problem,
} from './errors';
export {
  certificatePin,
  certificateValidity,
  commonName,
  describeCertificate,
  isDigest,
  oneLineName,
  parseCertificateTime,
  pinFromCertificate,
  pinFromInfo,
  spkiPin,
  subjectPublicKeyInfoDer,
} from './digest';
export {
  DEFAULT_MAX_CERTIFICATES,
  DEFAULT_MAX_PEM_BYTES,
  isCertificateLabel,
  parseCertificates,
  splitPem,
  type PemBlock,
  type PemOptions,
} from './pem';
export {
  CLIENT_AUTH_OID,
  DEFAULT_EXPECTED_ISSUER,
  MAX_TRUST_BYTES,
  MAX_TRUST_CERTIFICATES,
  MIN_EC_BITS,
  MIN_RSA_BITS,
  validateCertificateChain,
  validateChainOrThrow,
  type ValidateOptions,
  type ValidationResult,
} from './validate';
export {
  PlanError,
  assertPinSet,
  pinMatchRate,
  pinsEqual,
  planFinalize,
  planRotation,
  samePin,
  type PlanErrorCode,
} from './plan';
export { formatDuration, parseDuration } from './duration';
