/**
 * RFC 5280 §6.1 path validation over every candidate path: from the leaf through the chain's certificates
 * (in any order, with cross-signed and expired alternatives) to a trust anchor. Names only select
 * candidates; every link is a real signature check. The first path with no problem wins; otherwise the
 * best path's problems are reported. Bounded, so hostile pools of same-named CAs stay cheap.
 */
import {
  checkExtensions,
  checkIssuerEku,
  checkIssuerIsCa,
  checkKeyStrength,
  checkSignatureAlgorithm,
  checkValidity,
  type PathCertificate,
} from './checks';
import { oneLineName } from './digest';
import { safeText, type Problem } from './errors';
import { MAX_COMPLETE_PATHS, MAX_PATH_INTERMEDIATES, MAX_PATH_STEPS } from './policy';

export type PathOutcome =
  | { complete: true; path: PathCertificate[]; problems: Problem[] }
  | { complete: false; problems: Problem[] };

/** Problems of the certificates above the leaf on `path` (leaf first, anchor last). */
function evaluate(path: readonly PathCertificate[], at: Date): Problem[] {
  const anchor = path[path.length - 1];
  const problems: Problem[] = [
    // The anchor's own self-signature is not part of the path (RFC 5280 §6.1: the anchor is an input), so
    // its signature algorithm is not judged; everything else about it is.
    ...checkValidity(anchor, 'trust anchor', at, 0),
    ...checkIssuerIsCa(anchor, 'trust anchor'),
    ...checkKeyStrength(anchor, 'trust anchor'),
    ...checkExtensions(anchor, 'trust anchor'),
    ...checkIssuerEku(anchor, 'trust anchor'),
  ];
  // The anchor's pathLenConstraint bounds the path too (RFC 5280 §6.2 lets an anchor carry constraints).
  let maxPathLength = anchor.facts.basicConstraints?.pathLen ?? Number.POSITIVE_INFINITY;
  let limitedBy = anchor;
  for (let i = path.length - 2; i >= 1; i--) {
    const c = path[i];
    problems.push(
      ...checkSignatureAlgorithm(c, 'intermediate'),
      ...checkValidity(c, 'intermediate', at, 0),
      ...checkIssuerIsCa(c, 'intermediate'),
    );
    // §6.1.4 (l) and (m): self-issued certificates (key rollover) do not count.
    if (!c.facts.selfIssued) {
      if (maxPathLength <= 0) {
        problems.push({
          code: 'PATH_LEN_EXCEEDED',
          message: `intermediate ${c.name} is below ${limitedBy.name}, whose pathLenConstraint allows no further CA`,
        });
      }
      maxPathLength -= 1;
    }
    const pathLen = c.facts.basicConstraints?.pathLen;
    if (pathLen !== undefined && pathLen < maxPathLength) {
      maxPathLength = pathLen;
      limitedBy = c;
    }
    problems.push(...checkKeyStrength(c, 'intermediate'), ...checkExtensions(c, 'intermediate'), ...checkIssuerEku(c, 'intermediate'));
  }
  return problems;
}

/** Candidate issuers of `cert`: same name, key identifiers agreeing first (they are hints, not checks). */
function issuersOf(cert: PathCertificate, pool: readonly PathCertificate[]): PathCertificate[] {
  const named = pool.filter((p) => p !== cert && !p.facts.subjectEmpty && p.facts.subjectKey === cert.facts.issuerKey);
  const aki = cert.facts.authorityKeyId;
  if (aki === undefined) return named;
  return [...named.filter((p) => p.facts.subjectKeyId === aki), ...named.filter((p) => p.facts.subjectKeyId !== aki)];
}

/**
 * Searches paths depth first, trust anchors before chain certificates at each step, and returns the first
 * path without problems, else the complete path with the fewest, else why no path reached an anchor.
 */
export function findPath(
  leaf: PathCertificate,
  chain: readonly PathCertificate[],
  anchors: readonly PathCertificate[],
  at: Date,
): PathOutcome {
  const anchorDer = new Set(anchors.map((a) => a.cert.raw.toString('latin1')));
  // A chain copy of an anchor is the anchor; a certificate given twice is tried once.
  const seen = new Set<string>();
  const pool = chain.filter((c) => {
    const der = c.cert.raw.toString('latin1');
    if (anchorDer.has(der) || seen.has(der)) return false;
    seen.add(der);
    return true;
  });
  const verified = new Map<string, boolean>();
  const indexOf = new Map<PathCertificate, number>([...pool, ...anchors].map((c, i) => [c, i]));
  indexOf.set(leaf, -1);
  const signedBy = (cert: PathCertificate, issuer: PathCertificate): boolean => {
    const key = `${indexOf.get(cert)}>${indexOf.get(issuer)}`;
    let ok = verified.get(key);
    if (ok === undefined) {
      ok = cert.signedBy(issuer);
      verified.set(key, ok);
    }
    return ok;
  };

  let best: { path: PathCertificate[]; problems: Problem[] } | undefined;
  let completed = 0;
  let steps = 0;
  let firstReason: string | undefined;
  const deadEnd = (reason: string): void => {
    firstReason ??= reason;
  };

  const extend = (path: PathCertificate[]): boolean => {
    const cert = path[path.length - 1];
    if (++steps > MAX_PATH_STEPS) return true;
    let anyIssuer = false;
    for (const anchor of issuersOf(cert, anchors)) {
      anyIssuer = true;
      if (!signedBy(cert, anchor)) {
        deadEnd(`signature of ${cert.name} does not verify with the key of trusted ${anchor.name}`);
        continue;
      }
      const complete = [...path, anchor];
      const problems = evaluate(complete, at);
      completed++;
      if (!best || problems.length < best.problems.length) best = { path: complete, problems };
      if (problems.length === 0 || completed >= MAX_COMPLETE_PATHS) return true;
    }
    for (const issuer of issuersOf(cert, pool)) {
      anyIssuer = true;
      if (path.includes(issuer)) {
        deadEnd(`${issuer.name} is part of an issuer loop`);
        continue;
      }
      if (!signedBy(cert, issuer)) {
        deadEnd(`signature of ${cert.name} does not verify with the key of chain certificate ${issuer.name}`);
        continue;
      }
      if (path.length > MAX_PATH_INTERMEDIATES) {
        deadEnd(`no trust anchor within ${MAX_PATH_INTERMEDIATES} intermediates of the leaf`);
        continue;
      }
      if (extend([...path, issuer])) return true;
    }
    if (!anyIssuer) {
      deadEnd(
        `no certificate in the chain or the trust bundle is the issuer of ${cert.name} (${safeText(oneLineName(cert.cert.issuer) || '(empty issuer)', 120)})`,
      );
    }
    return false;
  };

  extend([leaf]);
  if (best) return { complete: true, path: best.path, problems: best.problems };
  return {
    complete: false,
    problems: [{ code: 'SIGNATURE_INVALID', message: firstReason ?? `no signature path from ${leaf.name} to the trust bundle` }],
  };
}
