import type { X509Certificate } from 'node:crypto';
import { certificatePin, isDigest, spkiPin } from '../pins/digest';
import { MAX_PINS, type Pin, type PinRole } from '../pins/types';
import { parseChain } from './chain';
import { HttpError } from './http-util';
import type { ErrorDetail } from './types';

/**
 * Detail codes of 400 answers (ErrorBody.details[].errorCode), one per cause so clients and tests can
 * assert on them without parsing messages.
 */
export const DETAIL_CODES = [
  'JSON_INVALID',
  'BODY_INVALID',
  'FIELD_UNKNOWN',
  'FIELD_INVALID',
  'FIELD_MISSING',
  'VERSION_MISSING',
  'VERSION_INVALID',
  'VERSION_CONFLICT',
  'PINS_TOO_MANY',
  'PIN_DUPLICATE',
  'DIGEST_MALFORMED',
  'ROLE_INVALID',
  'PRIMARY_MULTIPLE',
  'PRIMARY_MISSING',
  'PRIMARY_NOT_LEAF',
  'PEM_INVALID',
  'PRIVATE_KEY_SUPPLIED',
  'KEY_TYPE_UNSUPPORTED',
] as const;
export type DetailCode = (typeof DETAIL_CODES)[number];

export interface Problem {
  errorCode: DetailCode;
  fieldName: string;
  message: string;
}

const ROLES: readonly PinRole[] = ['primary', 'fallback', 'backup'];
const PIN_FIELDS = new Set(['role', 'sha256Spki', 'sha256Certificate', 'notAfter', 'serialNumber', 'subject']);

/** Turns collected problems into one 400: details for machines, every message joined for people. */
export function badRequest(problems: Problem[], entityId?: string): HttpError {
  const details: ErrorDetail[] = problems.map((p) => ({
    errorCode: p.errorCode,
    fieldName: p.fieldName,
    ...(entityId ? { entityId } : {}),
  }));
  const summary = problems.map((p) => `${p.fieldName}: ${p.message}`).join('; ');
  return new HttpError(400, `The request is invalid: ${summary}`, { details });
}

export interface ParsedChain {
  pem: string;
  leaf: X509Certificate | undefined;
}

/** '' clears the chain; anything else must hold at least one decodable certificate. */
export function checkChain(value: unknown, problems: Problem[]): ParsedChain | undefined {
  if (typeof value !== 'string') {
    problems.push({ errorCode: 'FIELD_INVALID', fieldName: 'certificateChain', message: 'must be a PEM string' });
    return undefined;
  }
  if (value.trim() === '') return { pem: '', leaf: undefined };
  const parsed = parseChain(value);
  if (!parsed.ok) {
    problems.push({ errorCode: parsed.errorCode, fieldName: 'certificateChain', message: parsed.message });
    return undefined;
  }
  return { pem: value, leaf: parsed.certificates[0] };
}

/**
 * Checks a pin set as the gateway would. `leaf` is the chain's leaf after the write (undefined when the
 * client has no chain); `leafKnown` is false when the chain itself was invalid, so the leaf check is skipped
 * rather than reported twice.
 */
export function checkPins(value: unknown, leaf: X509Certificate | undefined, leafKnown: boolean, problems: Problem[]): Pin[] | undefined {
  if (!Array.isArray(value)) {
    problems.push({ errorCode: 'FIELD_INVALID', fieldName: 'pins', message: 'must be an array of pins' });
    return undefined;
  }
  const before = problems.length;
  if (value.length > MAX_PINS) {
    problems.push({ errorCode: 'PINS_TOO_MANY', fieldName: 'pins', message: `holds ${value.length} pins; at most ${MAX_PINS} are allowed` });
  }
  const pins: Pin[] = [];
  const seenSpki = new Map<string, number>();
  const seenCert = new Map<string, number>();
  const primaries: number[] = [];
  value.forEach((item: unknown, i) => {
    const at = `pins[${i}]`;
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      problems.push({ errorCode: 'FIELD_INVALID', fieldName: at, message: 'must be an object' });
      return;
    }
    const pin = item as Record<string, unknown>;
    for (const key of Object.keys(pin)) {
      if (!PIN_FIELDS.has(key)) problems.push({ errorCode: 'FIELD_UNKNOWN', fieldName: `${at}.${key}`, message: 'is not a pin field' });
    }
    if (typeof pin.role !== 'string' || !ROLES.includes(pin.role as PinRole)) {
      problems.push({ errorCode: 'ROLE_INVALID', fieldName: `${at}.role`, message: `must be one of ${ROLES.join(', ')}` });
    } else if (pin.role === 'primary') {
      primaries.push(i);
    }
    for (const [field, seen] of [['sha256Spki', seenSpki], ['sha256Certificate', seenCert]] as const) {
      const digest = pin[field];
      if (!isDigest(digest)) {
        problems.push({ errorCode: 'DIGEST_MALFORMED', fieldName: `${at}.${field}`, message: 'must be a base64 SHA-256 digest (44 characters)' });
        continue;
      }
      const first = seen.get(digest);
      if (first !== undefined) {
        problems.push({ errorCode: 'PIN_DUPLICATE', fieldName: `${at}.${field}`, message: `repeats pins[${first}].${field}` });
      } else {
        seen.set(digest, i);
      }
    }
    if (pin.notAfter !== undefined && (typeof pin.notAfter !== 'string' || Number.isNaN(Date.parse(pin.notAfter)))) {
      problems.push({ errorCode: 'FIELD_INVALID', fieldName: `${at}.notAfter`, message: 'must be an ISO 8601 date' });
    }
    if (pin.serialNumber !== undefined && (typeof pin.serialNumber !== 'string' || !/^[0-9A-Fa-f]{1,64}$/.test(pin.serialNumber))) {
      problems.push({ errorCode: 'FIELD_INVALID', fieldName: `${at}.serialNumber`, message: 'must be a hexadecimal string' });
    }
    if (pin.subject !== undefined && (typeof pin.subject !== 'string' || pin.subject.length > 1024)) {
      problems.push({ errorCode: 'FIELD_INVALID', fieldName: `${at}.subject`, message: 'must be a string of at most 1024 characters' });
    }
    pins.push(copyPin(pin));
  });
  if (primaries.length > 1) {
    problems.push({ errorCode: 'PRIMARY_MULTIPLE', fieldName: 'pins', message: `has ${primaries.length} primary pins (indexes ${primaries.join(', ')}); at most one is allowed` });
  } else if (primaries.length === 0 && value.length > 0) {
    problems.push({ errorCode: 'PRIMARY_MISSING', fieldName: 'pins', message: 'a non-empty pin set needs a primary pin' });
  } else if (primaries.length === 1 && leafKnown) {
    checkPrimaryIsLeaf(value[primaries[0]] as Record<string, unknown>, primaries[0], leaf, problems);
  }
  return problems.length === before ? pins : undefined;
}

function checkPrimaryIsLeaf(pin: Record<string, unknown>, index: number, leaf: X509Certificate | undefined, problems: Problem[]): void {
  const at = `pins[${index}]`;
  if (!leaf) {
    problems.push({ errorCode: 'PRIMARY_NOT_LEAF', fieldName: at, message: 'the client has no certificateChain, so a primary pin cannot match its leaf' });
    return;
  }
  if (isDigest(pin.sha256Spki) && pin.sha256Spki !== spkiPin(leaf)) {
    problems.push({ errorCode: 'PRIMARY_NOT_LEAF', fieldName: `${at}.sha256Spki`, message: "is not the SPKI digest of the chain's leaf" });
  }
  if (isDigest(pin.sha256Certificate) && pin.sha256Certificate !== certificatePin(leaf)) {
    problems.push({ errorCode: 'PRIMARY_NOT_LEAF', fieldName: `${at}.sha256Certificate`, message: "is not the certificate digest of the chain's leaf" });
  }
}

/** Keeps only the known fields, in a stable order, so the stored pin never aliases the request. */
function copyPin(pin: Record<string, unknown>): Pin {
  const out: Record<string, unknown> = {};
  for (const key of ['role', 'sha256Spki', 'sha256Certificate', 'notAfter', 'serialNumber', 'subject']) {
    if (pin[key] !== undefined) out[key] = pin[key];
  }
  return out as unknown as Pin;
}
