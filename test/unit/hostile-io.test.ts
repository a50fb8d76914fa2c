import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, lstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createGzip } from 'node:zlib';
import { ApplicationFailure, DefaultPayloadConverter } from '@temporalio/common';
import { createActivities, type ActivityDeps } from '../../src/activities';
import { CERT_SOURCE_REFUSED_MESSAGE, obtainCertificate, type CertSourceDeps } from '../../src/activities/cert-source';
import { fetchAllowed, isNonPublicAddress, type FetchPolicy } from '../../src/activities/safe-fetch';
import { readAllowedFile, SourceRefusedError } from '../../src/activities/safe-file';
import { safeJson, safeText } from '../../src/cli/output';
import { AesGcmCodec } from '../../src/codec/aes-gcm';
import { startCodecServer } from '../../src/codec/server';
import { ensurePrivateDir, writePrivateFile } from '../../src/config/private-files';
import { redactUrl } from '../../src/logging';

// What a caller who can only start workflows can make the worker touch (issue 13, items 1 and 6): every path and
// URL below is one a workflow input could carry. Each hostile one must be refused quickly, in the same words, and a
// legitimate one next to it must still work (so no refusal here passes by refusing everything).

let dir: string;
let allowed: string;
let outside: string;
let keys: string;
let certPem: string;
let keyPem: string;

/** The one answer every denied source gets, whatever the reason. */
function sameRefusal(err: unknown): boolean {
  assert.ok(err instanceof ApplicationFailure, `an ApplicationFailure, not ${String(err)}`);
  assert.deepEqual(
    { type: err.type, message: err.message, nonRetryable: err.nonRetryable, details: err.details ?? [] },
    { type: 'CertSourceInvalid', message: CERT_SOURCE_REFUSED_MESSAGE, nonRetryable: true, details: [] },
  );
  return true;
}

async function refusedQuickly(what: string, p: Promise<unknown>, withinMs = 2_000): Promise<void> {
  const started = performance.now();
  await assert.rejects(p, sameRefusal, what);
  const ms = performance.now() - started;
  assert.ok(ms < withinMs, `${what}: refused in ${ms.toFixed(0)} ms`);
}

function fileDeps(): CertSourceDeps {
  return { allowedDirs: [allowed] };
}

before(() => {
  dir = realpathSync(mkdtempSync(join(tmpdir(), 'pinrotate-hostile-io-')));
  allowed = join(dir, 'allowed');
  outside = join(dir, 'outside');
  keys = join(dir, 'keys');
  for (const d of [allowed, outside, keys]) mkdirSync(d);
  // A self-signed server certificate for the local HTTPS source (names pki.test, localhost, 127.0.0.1, ::1); it is
  // also the "certificate" the sources serve and the probe presents, with its key as the probe key.
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-keyout', join(keys, 'server.key'), '-out', join(keys, 'server.pem'), '-subj', '/CN=pki.test',
    '-addext', 'subjectAltName=DNS:pki.test,DNS:localhost,IP:127.0.0.1,IP:::1',
  ], { stdio: 'ignore' });
  certPem = readFileSync(join(keys, 'server.pem'), 'utf8');
  keyPem = readFileSync(join(keys, 'server.key'), 'utf8');
  writeFileSync(join(allowed, 'good.pem'), `issued by the test\n${certPem}`);
  writeFileSync(join(outside, 'secret.pem'), certPem);
});

after(() => rmSync(dir, { recursive: true, force: true }));

describe('file: certificate sources', () => {
  test('the positive control: a regular file below an allowed directory is read', async () => {
    const pem = await obtainCertificate(`file:${join(allowed, 'good.pem')}`, 'c1', fileDeps());
    assert.match(pem, /^-----BEGIN CERTIFICATE-----\n/);
    assert.ok(!pem.includes('issued by the test'), 'only the certificate blocks come back');
  });

  test('outside, relative, `..`, a directory, a missing file, a symlink out, a linked directory: one identical refusal', async () => {
    symlinkSync(join(outside, 'secret.pem'), join(allowed, 'link-out.pem'));
    symlinkSync(outside, join(allowed, 'linked-dir'));
    // A link that stays inside is refused too: no link is followed at all.
    symlinkSync(join(allowed, 'good.pem'), join(allowed, 'link-in.pem'));
    mkdirSync(join(allowed, 'sub'));
    const cases = [
      join(outside, 'secret.pem'),
      'good.pem',
      `./allowed/good.pem`,
      `${allowed}/../outside/secret.pem`,
      `${allowed}/sub/../good.pem`,
      `${allowed}//good.pem`,
      allowed,
      join(allowed, 'sub'),
      `${join(allowed, 'sub')}/`,
      join(allowed, 'missing.pem'),
      join(allowed, 'link-out.pem'),
      join(allowed, 'link-in.pem'),
      join(allowed, 'linked-dir', 'secret.pem'),
      `${allowed}-sibling/good.pem`,
      `${join(allowed, 'good.pem')}\0.txt`,
      '/etc/passwd',
    ];
    for (const path of cases) await refusedQuickly(`file:${path}`, obtainCertificate(`file:${path}`, 'c1', fileDeps()));
    // A syntactically odd source gets the same words too.
    await refusedQuickly('gopher://x', obtainCertificate('gopher://x', 'c1', fileDeps()));
    // And nothing is allowed when the worker configured no directory.
    await refusedQuickly('no CERT_SOURCE_DIRS', obtainCertificate(`file:${join(allowed, 'good.pem')}`, 'c1', {}));
  });

  test('/proc/self/fd/N, directly or through a link, is refused', async () => {
    const fd = openSync(join(outside, 'secret.pem'), 'r');
    try {
      await refusedQuickly(`file:/proc/self/fd/${fd}`, obtainCertificate(`file:/proc/self/fd/${fd}`, 'c1', fileDeps()));
      symlinkSync(`/proc/self/fd/${fd}`, join(allowed, 'fd-link.pem'));
      await refusedQuickly('a link to /proc/self/fd/N', obtainCertificate(`file:${join(allowed, 'fd-link.pem')}`, 'c1', fileDeps()));
      // Even a worker told to allow /proc (the configuration refuses that) reads no descriptor: it is a link.
      await assert.rejects(readAllowedFile(`/proc/self/fd/${fd}`, { allowedDirs: ['/proc'], maxBytes: 1024 }), SourceRefusedError);
    } finally {
      closeSync(fd);
    }
  });

  test('four FIFOs at once are refused quickly, and a normal read right after is not held up', async () => {
    const fifos = [1, 2, 3, 4].map((i) => join(allowed, `fifo-${i}.pem`));
    for (const f of fifos) execFileSync('mkfifo', [f]);
    assert.ok(lstatSync(fifos[0]).isFIFO());
    const started = performance.now();
    await Promise.all(fifos.map((f) => refusedQuickly(`fifo ${f}`, obtainCertificate(`file:${f}`, 'c1', fileDeps()))));
    // With libuv's 4 threads blocked in open() or read() this would never resolve.
    const pem = await obtainCertificate(`file:${join(allowed, 'good.pem')}`, 'c1', fileDeps());
    assert.match(pem, /BEGIN CERTIFICATE/);
    const ms = performance.now() - started;
    assert.ok(ms < 2_000, `four FIFOs and a good read in ${ms.toFixed(0)} ms`);
  });

  test('a device is never opened, even below a directory the caller made allowed', async () => {
    const started = performance.now();
    await assert.rejects(readAllowedFile('/dev/zero', { allowedDirs: ['/dev'], maxBytes: 1024 }), SourceRefusedError);
    await assert.rejects(readAllowedFile('/dev/urandom', { allowedDirs: ['/dev'], maxBytes: 1024 }), SourceRefusedError);
    assert.ok(performance.now() - started < 1_000);
  });

  test('a huge regular file is read only up to the cap: INPUT_TOO_LARGE, not the whole file', async () => {
    const big = join(allowed, 'big.pem');
    // Sparse: 4 GiB long, no disk used. Read whole, this would take the worker's heap down.
    const fd = openSync(big, 'w');
    closeSync(fd);
    execFileSync('truncate', ['-s', '4G', big]);
    assert.equal(statSync(big).size, 4 * 1024 ** 3);
    const heapBefore = process.memoryUsage().heapUsed;
    const started = performance.now();
    await assert.rejects(obtainCertificate(`file:${big}`, 'c1', fileDeps()), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure);
      assert.match(err.message, /^INPUT_TOO_LARGE/);
      return true;
    });
    assert.ok(performance.now() - started < 2_000);
    assert.ok(process.memoryUsage().heapUsed - heapBefore < 64 * 1024 ** 2);
    const bytes = await readAllowedFile(big, { allowedDirs: [allowed], maxBytes: 256 * 1024 });
    assert.equal(bytes.length, 256 * 1024 + 1, 'read stops one byte past the cap');
  });
});

describe('probe keys', () => {
  let mtls: HttpsServer;
  let mtlsUrl: string;

  before(async () => {
    mtls = createHttpsServer({ key: keyPem, cert: certPem }, (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ accepted: true, matchedRole: 'primary', path: req.url }));
    });
    await new Promise<void>((r) => mtls.listen(0, '127.0.0.1', r));
    mtlsUrl = `https://127.0.0.1:${(mtls.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => mtls.close(() => r())));

  function probe(keyPath: string, more: Partial<{ certificatePem: string; certificatePath: string }> = { certificatePem: certPem }) {
    const deps = { mtlsUrl, mtlsCaPem: certPem, probeKeyDirs: [keys], certSources: { allowedDirs: [allowed] } } as unknown as ActivityDeps;
    return createActivities(deps).probeHandshake({ clientId: 'c1', keyPath, ...more });
  }

  function probeRefusal(err: unknown): boolean {
    assert.ok(err instanceof ApplicationFailure, String(err));
    assert.deepEqual({ type: err.type, message: err.message, nonRetryable: err.nonRetryable }, { type: 'ProbeInputInvalid', message: 'probe key or certificate not allowed or unreadable', nonRetryable: true });
    return true;
  }

  test('the positive control: a key below PROBE_KEY_DIR makes a real handshake', async () => {
    const res = await probe(join(keys, 'server.key'));
    assert.deepEqual(res, { accepted: true, status: 200, matchedRole: 'primary' });
    const viaPath = await probe(join(keys, 'server.key'), { certificatePath: join(allowed, 'good.pem') });
    assert.equal(viaPath.accepted, true);
  });

  test('/dev/zero, /proc/self/fd/N, a FIFO, a directory, ENOENT, `..`, a link out, a non-key, a huge file: one refusal, fast', async () => {
    writeFileSync(join(keys, 'not-a-key.pem'), certPem);
    writeFileSync(join(keys, 'huge.key'), Buffer.alloc(64 * 1024, 'A'));
    execFileSync('mkfifo', [join(keys, 'fifo.key')]);
    symlinkSync('/dev/zero', join(keys, 'zero.key'));
    symlinkSync(join(outside, 'secret.pem'), join(keys, 'out.key'));
    const fd = openSync(join(keys, 'server.key'), 'r');
    try {
      for (const keyPath of [
        '/dev/zero',
        `/proc/self/fd/${fd}`,
        join(keys, 'fifo.key'),
        keys,
        join(keys, 'missing.key'),
        `${keys}/../keys/server.key`,
        join(keys, 'zero.key'),
        join(keys, 'out.key'),
        join(keys, 'not-a-key.pem'),
        join(keys, 'huge.key'),
        'server.key',
      ]) {
        const started = performance.now();
        await assert.rejects(probe(keyPath), probeRefusal, keyPath);
        assert.ok(performance.now() - started < 2_000, keyPath);
      }
      // The certificate path of a probe is held to the same rules.
      await assert.rejects(probe(join(keys, 'server.key'), { certificatePath: '/dev/zero' }), probeRefusal);
      await assert.rejects(probe(join(keys, 'server.key'), { certificatePath: join(outside, 'secret.pem') }), probeRefusal);
    } finally {
      closeSync(fd);
    }
    // The worker still serves a normal probe right after.
    assert.equal((await probe(join(keys, 'server.key'))).accepted, true);
  });

  test('the preflight check gives the same answers before anything is applied', async () => {
    const acts = createActivities({ probeKeyDirs: [keys] } as unknown as ActivityDeps);
    assert.deepEqual(await acts.checkProbeInputs({ newKeyPath: join(keys, 'server.key'), oldKeyPath: join(keys, 'server.key') }), { checked: 2 });
    assert.deepEqual(await acts.checkProbeInputs({}), { checked: 0 });
    await assert.rejects(acts.checkProbeInputs({ newKeyPath: join(keys, 'server.key'), oldKeyPath: '/dev/zero' }), probeRefusal);
    await assert.rejects(acts.checkProbeInputs({ newKeyPath: join(keys, 'missing.key') }), probeRefusal);
    // No PROBE_KEY_DIR on the worker: every key is refused.
    await assert.rejects(createActivities({} as unknown as ActivityDeps).checkProbeInputs({ newKeyPath: join(keys, 'server.key') }), probeRefusal);
  });
});

describe('https: certificate sources', () => {
  let server: HttpsServer;
  let port: number;
  let internal: HttpServer;
  let internalHits = 0;
  let connections = 0;
  let hugeSent = 0;
  let bomb: Buffer;
  const DECODED_BOMB = 400 * 1024 * 1024;
  const sockets = new Set<Socket>();

  before(async () => {
    const gz = createGzip({ level: 9 });
    const parts: Buffer[] = [];
    gz.on('data', (c: Buffer) => parts.push(c));
    const done = new Promise((r) => gz.on('end', r));
    const mib = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < DECODED_BOMB / mib.length; i += 1) if (!gz.write(mib)) await new Promise((r) => gz.once('drain', r));
    gz.end();
    await done;
    bomb = Buffer.concat(parts);

    internal = createHttpServer((_req, res) => {
      internalHits += 1;
      res.end('{"AccessKeyId":"internal"}');
    });
    await new Promise<void>((r) => internal.listen(0, '127.0.0.1', r));
    const internalPort = (internal.address() as AddressInfo).port;

    server = createHttpsServer({ key: keyPem, cert: certPem }, (req, res) => {
      const path = req.url ?? '/';
      if (path === '/cert.pem') return res.writeHead(200, { 'content-type': 'application/x-pem-file' }).end(certPem);
      if (path === '/cert.pem.gz') {
        const gzip = createGzip();
        res.writeHead(200, { 'content-encoding': 'gzip' });
        gzip.pipe(res);
        gzip.end(certPem);
        return;
      }
      if (path === '/redirect') return res.writeHead(302, { location: `http://127.0.0.1:${internalPort}/latest/meta-data/` }).end();
      if (path === '/not-found') return res.writeHead(404).end('no such certificate');
      if (path === '/busy') return res.writeHead(503).end();
      if (path === '/bomb') return res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': bomb.length }).end(bomb);
      if (path === '/hang') return; // never answers
      if (path === '/drip') {
        res.writeHead(200);
        const t = setInterval(() => res.write('-'), 50);
        res.on('close', () => clearInterval(t));
        return;
      }
      if (path === '/huge' || path === '/huge-chunked') {
        // 4 GiB, as fast as the client takes it, until it hangs up; announced, or chunked with no length.
        const chunk = Buffer.alloc(64 * 1024, 'A');
        res.writeHead(200, path === '/huge' ? { 'content-length': String(4 * 1024 ** 3) } : {});
        let closed = false;
        res.on('close', () => (closed = true));
        const pump = () => {
          while (!closed && hugeSent < 4 * 1024 ** 3) {
            hugeSent += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
        };
        pump();
        return;
      }
      res.writeHead(404).end();
    });
    server.on('connection', (s: Socket) => {
      connections += 1;
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
    await new Promise<void>((r) => internal.close(() => r()));
  });

  /** The "allowed" setup of the tests: the local server by name, private networks allowed, its CA trusted. */
  function allowedPolicy(extra: Partial<FetchPolicy> = {}): NonNullable<CertSourceDeps['https']> {
    return { allowedHosts: [{ host: 'localhost', port }, { host: 'pki.test', port }], allowPrivateNetworks: true, caPem: certPem, ...extra };
  }

  test('the positive controls: allowed host, trusted CA, plain and gzip bodies', async () => {
    assert.match(await obtainCertificate(`https://localhost:${port}/cert.pem`, 'c1', { https: allowedPolicy() }), /BEGIN CERTIFICATE/);
    assert.match(await obtainCertificate(`https://localhost:${port}/cert.pem.gz`, 'c1', { https: allowedPolicy() }), /BEGIN CERTIFICATE/);
  });

  test('a 302 to plain HTTP on an internal address is not followed', async () => {
    const before = internalHits;
    await refusedQuickly('302', obtainCertificate(`https://localhost:${port}/redirect`, 'c1', { https: allowedPolicy() }));
    assert.equal(internalHits, before, 'the internal endpoint was never called');
  });

  test('a source that resolves to loopback, private, link-local or v4-mapped addresses is refused before connecting', async () => {
    const policy = { ...allowedPolicy(), allowPrivateNetworks: false };
    const before = connections;
    // localhost really resolves to 127.0.0.1 / ::1 here.
    await refusedQuickly('localhost', obtainCertificate(`https://localhost:${port}/cert.pem`, 'c1', { https: policy }));
    for (const answer of ['127.0.0.1', '10.1.2.3', '169.254.169.254', '::1', '::ffff:127.0.0.1', '::ffff:169.254.169.254', 'fd00::1', '0.0.0.0', '::']) {
      let calls = 0;
      const resolve = async () => {
        calls += 1;
        return [{ address: answer, family: answer.includes(':') ? 6 : 4 }];
      };
      await refusedQuickly(`pki.test → ${answer}`, obtainCertificate(`https://pki.test:${port}/cert.pem`, 'c1', { https: { ...policy, resolve } }));
      assert.equal(calls, 1, 'resolved once');
    }
    // One bad address among good ones refuses the name.
    const mixed = async () => [{ address: '93.184.216.34', family: 4 }, { address: '127.0.0.1', family: 4 }];
    await refusedQuickly('mixed answer', obtainCertificate(`https://pki.test:${port}/cert.pem`, 'c1', { https: { ...policy, resolve: mixed } }));
    // Address literals are checked without any lookup.
    for (const host of ['127.0.0.1', '[::1]', '[::ffff:7f00:1]', '169.254.169.254', '10.0.0.1']) {
      const literal = host.replace(/^\[|\]$/g, '');
      await refusedQuickly(host, obtainCertificate(`https://${host}:${port}/cert.pem`, 'c1', { https: { ...policy, allowedHosts: [{ host: literal, port }] } }));
    }
    assert.equal(connections, before, 'no connection was made to any refused destination');
  });

  test('the address that was checked is the address connected to (no second resolution to rebind)', async () => {
    let calls = 0;
    // pki.test does not exist in DNS: the only way to reach the server is through the vetted answer.
    const resolve = async () => {
      calls += 1;
      return [{ address: '127.0.0.1', family: 4 }];
    };
    assert.match(await obtainCertificate(`https://pki.test:${port}/cert.pem`, 'c1', { https: allowedPolicy({ resolve }) }), /BEGIN CERTIFICATE/);
    assert.equal(calls, 1);
  });

  test('hosts, ports, schemes and credentials outside the configuration are refused', async () => {
    const policy = allowedPolicy();
    for (const url of [
      `https://127.0.0.1:${port}/cert.pem`, // allowed by name only, not by address
      `https://localhost:${port + 1}/cert.pem`,
      'https://localhost/cert.pem',
      `http://localhost:${port}/cert.pem`,
      `https://user:pass@localhost:${port}/cert.pem`,
      `https://evil.test:${port}/cert.pem`,
      `https://localhost.evil.test:${port}/cert.pem`,
    ]) {
      await refusedQuickly(url, obtainCertificate(url, 'c1', { https: policy }));
    }
    await refusedQuickly('no CERT_SOURCE_HOSTS', obtainCertificate(`https://localhost:${port}/cert.pem`, 'c1', {}));
    // An untrusted server certificate (no CERT_SOURCE_CA_FILE): refused, not retried.
    await refusedQuickly('untrusted', obtainCertificate(`https://localhost:${port}/cert.pem`, 'c1', { https: { ...policy, caPem: undefined } }));
    await refusedQuickly('404', obtainCertificate(`https://localhost:${port}/not-found`, 'c1', { https: policy }));
  });

  for (const path of ['/huge', '/huge-chunked']) {
    test(`a 4 GiB body (${path}) is cut at 256 KiB with bounded memory`, async () => {
      hugeSent = 0;
      const heap = sampleMemory();
      const started = performance.now();
      await assert.rejects(obtainCertificate(`https://localhost:${port}${path}`, 'c1', { https: allowedPolicy() }), /INPUT_TOO_LARGE/);
      const peak = heap.stop();
      assert.ok(performance.now() - started < 5_000);
      assert.ok(peak < 64 * 1024 ** 2, `memory grew by ${(peak / 2 ** 20).toFixed(1)} MiB`);
      // The server stops soon after the client hangs up: far from 4 GiB.
      await waitFor(() => sockets.size === 0);
      assert.ok(hugeSent < 64 * 1024 ** 2, `the server sent ${(hugeSent / 2 ** 20).toFixed(1)} MiB`);
    });
  }

  test('a gzip bomb (~400 KB → 400 MB) is cut at 256 KiB after decompression, with bounded memory', async () => {
    assert.ok(bomb.length > 300 * 1024 && bomb.length < 1024 * 1024, `the bomb is ${bomb.length} bytes compressed`);
    const heap = sampleMemory();
    const started = performance.now();
    await assert.rejects(obtainCertificate(`https://localhost:${port}/bomb`, 'c1', { https: allowedPolicy() }), /INPUT_TOO_LARGE/);
    const peak = heap.stop();
    assert.ok(performance.now() - started < 5_000);
    assert.ok(peak < 64 * 1024 ** 2, `memory grew by ${(peak / 2 ** 20).toFixed(1)} MiB`);
    // Directly: the decoded bytes never pass the cap.
    await assert.rejects(fetchAllowed(`https://localhost:${port}/bomb`, { ...allowedPolicy(), maxBytes: 1000 }), /more than 1000 bytes/);
  });

  test('a server that never answers or drips its body is given up on by the deadlines, as a retryable failure', async () => {
    for (const [path, policy] of [
      ['/hang', allowedPolicy({ headersTimeoutMs: 300 })],
      ['/drip', allowedPolicy({ totalTimeoutMs: 600 })],
      ['/busy', allowedPolicy()],
    ] as const) {
      const started = performance.now();
      await assert.rejects(obtainCertificate(`https://localhost:${port}${path}`, 'c1', { https: policy }), (err: unknown) => {
        assert.ok(err instanceof ApplicationFailure);
        assert.deepEqual({ type: err.type, message: err.message, nonRetryable: err.nonRetryable }, { type: 'CertSourceUnavailable', message: 'certificate source temporarily unavailable', nonRetryable: false });
        return true;
      });
      assert.ok(performance.now() - started < 3_000, path);
    }
  });

  test('address classification: non-public ranges refused, public ones not', () => {
    for (const a of ['127.0.0.1', '127.255.0.9', '10.0.0.1', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255', '::', '::1', '::ffff:127.0.0.1', '::ffff:a00:1', 'fe80::1', 'fe80::1%eth0', 'fc00::1', 'fd12::1', 'ff02::1', '64:ff9b::a00:1', '2002:7f00:1::', 'not-an-ip']) {
      assert.equal(isNonPublicAddress(a), true, a);
    }
    for (const a of ['8.8.8.8', '93.184.216.34', '172.32.0.1', '2606:4700:4700::1111', '2a00:1450:4001::200e', '::ffff:8.8.8.8']) {
      assert.equal(isNonPublicAddress(a), false, a);
    }
  });
});

describe('the codec server', () => {
  test('refuses no token, a bad token, a foreign Host, a foreign Origin, a simple cross-site POST, and tampered AAD', async () => {
    const key = randomBytes(32);
    const codec = new AesGcmCodec(key, 'k1');
    const token = randomBytes(18).toString('hex');
    const server = await startCodecServer({ codec, port: 0, token, uiOrigin: 'http://127.0.0.1:8233' });
    const port = (server.address() as AddressInfo).port;
    const converter = new DefaultPayloadConverter();
    const [enc] = await codec.encode([converter.toPayload({ secret: 'payload' })]);
    const wire = (p: typeof enc) => ({ payloads: [{ metadata: Object.fromEntries(Object.entries(p.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')])), data: Buffer.from(p.data!).toString('base64') }] });
    const call = (headers: Record<string, string>, body: unknown, path = '/decode') =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port, path, method: 'POST', headers: { host: `127.0.0.1:${port}`, 'content-type': 'application/json', ...headers } }, (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        });
        req.on('error', reject);
        req.end(typeof body === 'string' ? body : JSON.stringify(body));
      });
    try {
      const ok = await call({ authorization: `Bearer ${token}` }, wire(enc));
      assert.equal(ok.status, 200, 'the positive control');
      assert.deepEqual(JSON.parse(Buffer.from(JSON.parse(ok.body).payloads[0].data, 'base64').toString()), { secret: 'payload' });
      assert.equal((await call({}, wire(enc))).status, 401);
      assert.equal((await call({ authorization: `Bearer ${token.slice(0, -1)}x` }, wire(enc))).status, 401);
      assert.equal((await call({ authorization: `Basic ${token}` }, wire(enc))).status, 401);
      assert.equal((await call({}, wire(enc), `/t/wrong-token-123456/decode`)).status, 401);
      const rebinding = await call({ authorization: `Bearer ${token}`, host: `evil.example:${port}` }, wire(enc));
      assert.equal(rebinding.status, 421);
      assert.ok(!rebinding.body.includes('payload'));
      assert.equal((await call({ authorization: `Bearer ${token}`, host: 'evil.example' }, wire(enc))).status, 421);
      assert.equal((await call({ authorization: `Bearer ${token}`, origin: 'https://evil.example' }, wire(enc))).status, 403);
      assert.equal((await call({ authorization: `Bearer ${token}`, 'content-type': 'text/plain' }, wire(enc))).status, 415);
      // Relabelled to another key id that the server holds under the same key: refused by the AAD, not decrypted.
      const other = await startCodecServer({ codec: new AesGcmCodec(key, 'k2'), port: 0, token });
      try {
        const otherPort = (other.address() as AddressInfo).port;
        const relabelled = { ...enc, metadata: { ...enc.metadata, 'encryption-key-id': Buffer.from('k2') } };
        const res = await fetch(`http://127.0.0.1:${otherPort}/decode`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(wire(relabelled)) });
        assert.equal(res.status, 400);
        assert.match(await res.text(), /does not authenticate/);
      } finally {
        await new Promise((r) => other.close(r));
      }
      // A plaintext payload is not passed through as if it had been decrypted.
      const plain = await call({ authorization: `Bearer ${token}` }, wire(converter.toPayload({ injected: true })));
      assert.equal(plain.status, 400);
      await assert.rejects(startCodecServer({ codec, port: 0, token: 'short' }), /at least 16/);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

describe('terminal output, log lines and private files', () => {
  test('safeText strips escape sequences, C0/C1 controls and bidi overrides; keeps newlines only when asked', () => {
    const hostile = 'rolled back\x1b[2K\r\x1b[1A\x1b[32mfinalized\x1b[0m\x1b]52;c;cm0gLXJmIH4=\x07 \x1b]8;;https://evil\x1b\\link\x1b]8;;\x1b\\ \x9b31m\x9d0;title\x9c\u202eevil\u202c\x00\x07\x7f end\nsecond\tline';
    const out = safeText(hostile);
    // eslint-disable-next-line no-control-regex
    assert.doesNotMatch(out, /[\x00-\x1f\x7f-\x9f\u202a-\u202e]/);
    assert.equal(out, 'rolled back finalized link evil end second line');
    assert.equal(safeText('a\nb', { multiline: true }), 'a\nb');
    assert.equal(safeText('a\r\nb\x1b[31m', { multiline: true }), 'a\nb');
    assert.equal(safeText(undefined), '');
    const value = { reason: 'x\x1b]52;c;AAAA\x07\x9b2J\u202e' };
    const json = safeJson(value);
    // eslint-disable-next-line no-control-regex
    assert.doesNotMatch(json, /[\x00-\x1f\x7f-\x9f\u202e]/);
    assert.deepEqual(JSON.parse(json), value, 'the JSON still says exactly what was recorded');
  });

  test('redactUrl drops credentials, query and fragment', () => {
    assert.equal(redactUrl('https://worker:s3cr3t@gateway.example:8443/api?token=abc#frag'), 'https://[redacted]@gateway.example:8443/api?[redacted]');
    assert.equal(redactUrl('http://127.0.0.1:8787'), 'http://127.0.0.1:8787/');
    assert.equal(redactUrl('not a url s3cr3t'), '[unparsable url]');
    assert.equal(redactUrl(undefined), undefined);
  });

  test('private files: 0600 in 0700 directories whatever the umask, and a link at the path is replaced, not followed', () => {
    const previous = process.umask(0o022);
    try {
      const d = join(dir, 'private', 'nested');
      writePrivateFile(join(d, 'worker.env'), 'SECRET=1\n');
      assert.equal(statSync(join(dir, 'private')).mode & 0o777, 0o700);
      assert.equal(statSync(d).mode & 0o777, 0o700);
      assert.equal(statSync(join(d, 'worker.env')).mode & 0o777, 0o600);
      const victim = join(outside, 'victim.txt');
      writeFileSync(victim, 'untouched');
      symlinkSync(victim, join(d, 'audit.jsonl'));
      writePrivateFile(join(d, 'audit.jsonl'), 'record\n');
      assert.equal(readFileSync(victim, 'utf8'), 'untouched');
      assert.ok(lstatSync(join(d, 'audit.jsonl')).isFile());
      const loose = join(dir, 'loose');
      mkdirSync(loose, { mode: 0o755 });
      ensurePrivateDir(loose);
      assert.equal(statSync(loose).mode & 0o777, 0o700);
    } finally {
      process.umask(previous);
    }
  });
});

/** Samples heap + buffers every 5 ms; `stop()` gives the largest growth over the start. */
function sampleMemory(): { stop(): number } {
  const used = () => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const base = used();
  let peak = 0;
  const t = setInterval(() => (peak = Math.max(peak, used() - base)), 5);
  return {
    stop() {
      clearInterval(t);
      return Math.max(peak, used() - base);
    },
  };
}

async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
}
