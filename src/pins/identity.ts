/** IDENTITY_MISMATCH: the leaf must name the client it is pinned for (DESIGN.md §5). */
import { safeText, type Problem } from './errors';
import type { CertificateFacts } from './x509';

export interface IdentityOptions {
  /** The OAuth client id the certificate is for. */
  clientId: string;
  /** The client's display name on the platform, when known. */
  clientName?: string;
  /** Further names a worker-side mapping allows for this client. */
  allowedNames?: readonly string[];
}

/**
 * The leaf's subject CN or one of its SAN entries (DNS name, URI, email) must equal the client id, the
 * client's name or an allowed name; DNS names compare case-insensitively, as DNS does.
 */
export function checkIdentity(facts: CertificateFacts, identity: IdentityOptions): Problem[] {
  const wanted = [identity.clientId, identity.clientName, ...(identity.allowedNames ?? [])].filter(
    (n): n is string => typeof n === 'string' && n.length > 0,
  );
  const exact = [...facts.commonNames, ...facts.uris, ...facts.emails];
  const dns = facts.dnsNames.map((d) => d.toLowerCase());
  if (wanted.some((w) => exact.includes(w) || dns.includes(w.toLowerCase()))) return [];
  const names = [
    ...facts.commonNames.map((n) => `CN "${n}"`),
    ...facts.dnsNames.map((n) => `DNS "${n}"`),
    ...facts.uris.map((n) => `URI "${n}"`),
    ...facts.emails.map((n) => `email "${n}"`),
  ];
  const has = names.length === 0 ? 'names nobody (no CN, no subjectAltName)' : `names ${safeText(names.slice(0, 4).join(', '), 160)}`;
  const expected = [`client id "${identity.clientId}"`, ...(identity.clientName ? [`name "${identity.clientName}"`] : [])];
  const extra = identity.allowedNames?.length ? ` or one of ${identity.allowedNames.length} allowed names` : '';
  return [
    {
      code: 'IDENTITY_MISMATCH',
      message: `leaf ${has}; expected the ${safeText(expected.join(' or '), 160)}${extra}`,
    },
  ];
}
