import { lookup as dnsLookup } from 'node:dns';
import type { IncomingMessage } from 'node:http';
import { request } from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import type { Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { SourceRefusedError } from './safe-file';

/**
 * GET of an `https://` URL that a workflow input names, bounded by the worker's configuration: only allowed hosts,
 * no redirects, no loopback/private/link-local/multicast destination unless allowed, the address that was checked
 * is the one connected to (the check runs inside the socket's own DNS lookup, so a rebinding answer cannot slip in
 * between), a byte cap on the decoded body (counted while streaming, after decompression), and deadlines for the
 * connection, the headers and the body. A refusal is the generic `SourceRefusedError`; a transient failure of an
 * allowed host (5xx, timeout, reset) is `SourceUnavailableError`, which the caller may retry.
 */

export class SourceUnavailableError extends Error {
  constructor() {
    super('temporarily unavailable');
    this.name = 'SourceUnavailableError';
  }
}

/** The decoded body went over the cap; the transfer was cut there. */
export class SourceTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`more than ${maxBytes} bytes`);
    this.name = 'SourceTooLargeError';
  }
}

export interface HostRule {
  /** Lower-case host name or IP literal; `*.example.com` allows every name below example.com. */
  host: string;
  /** When unset, only 443. */
  port?: number;
}

export interface FetchPolicy {
  allowedHosts: readonly HostRule[];
  allowPrivateNetworks?: boolean;
  /** Extra trust (PEM) for the source's server certificate, replacing the default roots (tests, private PKI). */
  caPem?: string;
  maxBytes: number;
  connectTimeoutMs?: number;
  headersTimeoutMs?: number;
  /** Deadline for the whole exchange, body included. */
  totalTimeoutMs?: number;
  /** Name resolution (the system resolver by default; tests pass their own answers). */
  resolve?: (hostname: string, family: number) => Promise<Array<{ address: string; family: number }>>;
}

function systemResolve(hostname: string, family: number): Promise<Array<{ address: string; family: number }>> {
  return new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true, verbatim: true, family }, (err, addresses) => (err ? reject(err) : resolve(addresses)));
  });
}

/** Every range no certificate source on the internet lives in (RFC 6890 special-purpose and friends). */
const NON_PUBLIC = (() => {
  const b = new BlockList();
  for (const [net, bits] of [
    ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
    ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15],
    ['198.51.100.0', 24], ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
  ] as const) b.addSubnet(net, bits, 'ipv4');
  for (const [net, bits] of [
    ['::', 96], // unspecified, loopback and the old IPv4-compatible form
    ['64:ff9b::', 96], ['64:ff9b:1::', 48], // NAT64: could reach any IPv4 address
    ['100::', 64], ['2001::', 23], ['2001:db8::', 32], ['2002::', 16], // discard, IETF special, docs, 6to4
    ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8],
  ] as const) b.addSubnet(net, bits, 'ipv6');
  return b;
})();

/** True for loopback, private, link-local, unspecified, multicast and other non-public addresses (IPv4-mapped too). */
export function isNonPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return NON_PUBLIC.check(address, 'ipv4');
  if (family === 6) return NON_PUBLIC.check(address.replace(/%.*$/, ''), 'ipv6');
  return true;
}

export function hostAllowed(url: URL, rules: readonly HostRule[]): boolean {
  const host = url.hostname.toLowerCase().replace(/^\[|\]$/g, '');
  const port = url.port ? Number(url.port) : 443;
  return rules.some((r) => {
    if (r.port === undefined ? port !== 443 : r.port !== port) return false;
    if (r.host.startsWith('*.')) return host.endsWith(r.host.slice(1)) && host.length > r.host.length - 1;
    return host === r.host;
  });
}

/** A DNS lookup that hands the socket only addresses that passed the check; any non-public answer refuses all. */
function vettedLookup(policy: FetchPolicy, onRefused: () => void): LookupFunction {
  const resolveName = policy.resolve ?? systemResolve;
  return (hostname, options, callback) => {
    const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : (options.family ?? 0);
    resolveName(hostname, family).then(
      (list) => {
        if (list.length === 0 || (!policy.allowPrivateNetworks && list.some((a) => isNonPublicAddress(a.address)))) {
          onRefused();
          return callback(Object.assign(new Error('destination not allowed'), { code: 'EREFUSED_DESTINATION' }), '', 0);
        }
        if (options.all) return (callback as unknown as (e: null, a: typeof list) => void)(null, list);
        return callback(null, list[0].address, list[0].family);
      },
      (err: NodeJS.ErrnoException) => callback(err, '', 0),
    );
  };
}

function decoded(res: IncomingMessage): Readable | undefined {
  const encoding = String(res.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (encoding === 'identity' || encoding === '') return res;
  if (encoding === 'gzip' || encoding === 'x-gzip') return res.pipe(createGunzip());
  if (encoding === 'deflate') return res.pipe(createInflate());
  if (encoding === 'br') return res.pipe(createBrotliDecompress());
  return undefined;
}

export async function fetchAllowed(rawUrl: unknown, policy: FetchPolicy): Promise<Buffer> {
  let url: URL;
  try {
    if (typeof rawUrl !== 'string' || rawUrl.length > 2048) throw new Error('bad');
    url = new URL(rawUrl);
  } catch {
    throw new SourceRefusedError();
  }
  // Credentials in a workflow input would land in history; a source URL carries none.
  if (url.protocol !== 'https:' || url.username || url.password || !hostAllowed(url, policy.allowedHosts)) throw new SourceRefusedError();
  const literal = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(literal) && !policy.allowPrivateNetworks && isNonPublicAddress(literal)) throw new SourceRefusedError();

  const connectTimeoutMs = policy.connectTimeoutMs ?? 5_000;
  const headersTimeoutMs = policy.headersTimeoutMs ?? 10_000;
  const totalTimeoutMs = policy.totalTimeoutMs ?? 20_000;

  return new Promise<Buffer>((resolve, reject) => {
    let settled = false;
    let refusedDestination = false;
    const timers: NodeJS.Timeout[] = [];
    const finish = (err: Error | undefined, body?: Buffer): void => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      req.destroy();
      if (err) reject(err);
      else resolve(body!);
    };
    const req = request(
      url,
      {
        method: 'GET',
        agent: false,
        // The vetted lookup also applies to IP literals: net skips lookup for them, so those were checked above.
        lookup: vettedLookup(policy, () => (refusedDestination = true)),
        ...(policy.caPem ? { ca: policy.caPem } : {}),
        headers: { accept: 'application/x-pem-file, text/plain', 'accept-encoding': 'gzip, deflate, br' },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        // No redirect is followed: a 3xx is a refusal like any other 4xx.
        if (status >= 500) return finish(new SourceUnavailableError());
        if (status < 200 || status >= 300) return finish(new SourceRefusedError());
        const declared = Number(res.headers['content-length']);
        const encoding = res.headers['content-encoding'];
        if (!encoding && Number.isFinite(declared) && declared > policy.maxBytes) return finish(new SourceTooLargeError(policy.maxBytes));
        const body = decoded(res);
        if (!body) return finish(new SourceRefusedError());
        const chunks: Buffer[] = [];
        let total = 0;
        let wire = 0;
        res.on('data', (chunk: Buffer) => {
          // The compressed side is bounded too, so a slow drip of compressed bytes cannot grow without limit.
          wire += chunk.length;
          if (wire > policy.maxBytes * 2) {
            finish(new SourceTooLargeError(policy.maxBytes));
            res.destroy();
          }
        });
        body.on('data', (chunk: Buffer) => {
          if (settled) return;
          total += chunk.length;
          if (total > policy.maxBytes) {
            finish(new SourceTooLargeError(policy.maxBytes));
            body.destroy();
            res.destroy();
            return;
          }
          chunks.push(chunk);
        });
        body.on('end', () => finish(undefined, Buffer.concat(chunks)));
        body.on('error', () => finish(new SourceRefusedError()));
        res.on('error', () => finish(new SourceUnavailableError()));
        res.on('aborted', () => finish(new SourceUnavailableError()));
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      // A server certificate that does not verify is not going to get better by retrying.
      const tlsRefusal = /CERT|SELF_SIGNED|UNABLE_TO|ERR_TLS|ERR_SSL/.test(String(err.code ?? ''));
      finish(refusedDestination || tlsRefusal ? new SourceRefusedError() : new SourceUnavailableError());
    });
    req.on('socket', (socket) => {
      const connectTimer = setTimeout(() => finish(new SourceUnavailableError()), connectTimeoutMs);
      timers.push(connectTimer);
      socket.once('secureConnect', () => clearTimeout(connectTimer));
    });
    timers.push(setTimeout(() => finish(new SourceUnavailableError()), totalTimeoutMs));
    const headersTimer = setTimeout(() => finish(new SourceUnavailableError()), headersTimeoutMs);
    timers.push(headersTimer);
    req.on('response', () => clearTimeout(headersTimer));
    req.end();
  });
}
