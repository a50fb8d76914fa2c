/**
 * The production-shaped cluster, for real: `pinrotate cluster start` (PostgreSQL + the Temporal server + Web UI)
 * on a temporary data directory, the platform emulator, three `pinrotate worker` processes each with its own OAuth
 * client, and a fleet of 200 rotations with an overlap. Mid-fleet one worker is SIGKILLed and restarted, then
 * every cluster process is SIGKILLed, a worker is sent SIGTERM while the server is gone, and the cluster is started
 * again on its data directory. Checked: every rotation finalized and the platform holds exactly its new pin, no
 * webhook processed twice, one audit line per run, the platform never saw more than the cluster-wide rate, and
 * (when the OS has Prometheus) the server's and the workers' metrics scraped by a real Prometheus.
 */
import assert from 'node:assert/strict';
import { randomBytes, X509Certificate } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import pino from 'pino';
import { formatEnvFile } from '../../src/config/env-file';
import { localWorkerEnv } from '../../src/config/worker-env';
import { EmulatorAdmin, startEmulator, type EmulatorHandle } from '../../src/emulator';
import { queryProgress, startFleet, waitForFleet } from '../../src/fleet/client';
import type { FleetProgress } from '../../src/contract';
import { describeCertificate, pinFromInfo } from '../../src/pins/digest';
import { freePort, waitFor } from '../../src/temporal/net';
import { SHUTDOWN_EXIT_MS } from '../../src/worker';
import { TASK_QUEUE } from '../../src/contract';
import { killGroup, prometheusBinary, startClusterProcess, startPrometheus, startWorkerProcess, type ClusterInfo, type Proc, type Prometheus } from './harness';

const ROTATIONS = Number(process.env.CLUSTER_TEST_ROTATIONS ?? 200);
const WORKERS = 3;
/** The account's platform rate, enforced cluster-wide on the platform task queue (maxTaskQueueActivitiesPerSecond). */
const RATE_PER_MINUTE = 600;
const CONCURRENCY = 40;
const OVERLAP = '3s';
const WINDOW_S = 10;
const CERT_POOL = 20;
/** Runs whose audit line was written more than once (filled by the fleet test, checked by the last one). */
let auditDuplicates: string[] | undefined;

const dir = mkdtempSync(join(tmpdir(), 'pinrotate-cluster-'));
// PostgreSQL runs as an unprivileged user when we are root: it must be able to reach the data directory.
chmodSync(dir, 0o711);
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
  if (!process.env.CLUSTER_TEST_KEEP) rmSync(dir, { recursive: true, force: true });
  else process.stderr.write(`[cluster] kept ${dir}\n`);
});

const log = (m: string): void => void process.stderr.write(`[cluster ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

/** Times (ms) of the platform API requests the emulator answered, from its own request log. */
function requestRecorder(): { times: number[]; stream: Writable } {
  const times: number[] = [];
  let buffered = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.includes('"msg":"request"')) continue;
        // Logged when the answer went out; `ms` after the request arrived: count it when it arrived.
        const entry = JSON.parse(line) as { time: number; ms?: number; path?: string };
        if (entry.path?.startsWith('/api/')) times.push(entry.time - (entry.ms ?? 0));
      }
      done();
    },
  });
  return { times, stream };
}

/** The most requests in any window of `windowMs` (two pointers over sorted times). */
function maxInWindow(times: number[], windowMs: number): number {
  const t = [...times].sort((a, b) => a - b);
  let max = 0;
  for (let lo = 0, hi = 0; hi < t.length; hi += 1) {
    while (t[hi] - t[lo] >= windowMs) lo += 1;
    max = Math.max(max, hi - lo + 1);
  }
  return max;
}

test(`cluster: ${ROTATIONS} rotations on ${WORKERS} workers survive a worker SIGKILL and a SIGKILL of every cluster process`, { timeout: 900_000 }, async () => {
  const started = Date.now();
  const dataDir = join(dir, 'cluster');
  const port = await freePort();

  // The cluster and the workers' bundling are the slow parts; the emulator and the certificates go meanwhile.
  log(`starting the cluster on ${dataDir}`);
  const first = startClusterProcess(dataDir, port, join(dir, 'cluster-1.log'));
  cleanups.push(() => killGroup(first.proc));
  const recorder = requestRecorder();
  const emulator: EmulatorHandle = await startEmulator({ rateLimitPerMinute: RATE_PER_MINUTE, logger: pino({ level: 'debug' }, recorder.stream) });
  cleanups.push(() => emulator.close());
  const admin = new EmulatorAdmin(emulator.url, emulator.adminToken);
  const caPath = join(dir, 'ca.pem');
  writeFileSync(caPath, emulator.caCertificatePem);

  const ids = Array.from({ length: ROTATIONS }, (_, i) => `cl-${String(i).padStart(4, '0')}`);
  const seed = await admin.issueCertificate({ commonName: 'cluster-seed', days: 90 });
  const seedPin = pinFromInfo(describeCertificate(new X509Certificate(seed.certificatePem)), 'primary');
  // Pre-issued (for speed, as the bench does: the emulator makes an RSA key per certificate, slow on a busy
  // machine): a pool of distinct certificates, client i rotating to certificate i mod POOL.
  const certDir = join(dir, 'certs');
  mkdirSync(certDir);
  const certOf = (id: string): number => ids.indexOf(id) % CERT_POOL;
  const poolDigest: string[] = [];
  for (let i = 0; i < CERT_POOL; i += 1) {
    const issued = await admin.issueCertificate({ commonName: `cluster-next-${i}`, days: 90 });
    writeFileSync(join(certDir, `next-${i}.pem`), issued.certificatePem);
    poolDigest.push(describeCertificate(new X509Certificate(issued.certificatePem)).sha256Certificate);
  }
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < ids.length) {
      const id = ids[next++];
      await admin.createClient({ id, name: `cluster ${id}`, secret: randomBytes(12).toString('hex'), mtlsRequired: true, certificateChain: seed.certificatePem, pins: [seedPin] });
    }
  };
  await Promise.all(Array.from({ length: 8 }, lane));
  // Pool certificates name themselves, not the client that rotates to them: the worker-side identity mapping
  // (CERT_IDENTITY_MAP) says which names each client's leaf may carry, as a platform team would for such clients.
  const identityMapPath = join(dir, 'identity-map.json');
  writeFileSync(identityMapPath, JSON.stringify(Object.fromEntries(ids.map((id) => [id, [`cluster-next-${certOf(id)}`]]))));
  log(`emulator up, ${ids.length} clients seeded and their next certificates issued`);

  const info: ClusterInfo = await first.ready;
  log(`cluster up in ${Math.round((Date.now() - started) / 1000)} s: ${info.temporalAddress}, UI ${info.temporalUi}, metrics ${info.serverMetrics}`);
  if (info.temporalUi) {
    const settings = await fetch(`${info.temporalUi}/api/v1/settings`);
    assert.equal(settings.status, 200, 'the Web UI answers');
  }

  // Three workers, each its own OAuth client (its own token on the platform), one audit file.
  const auditPath = join(dir, 'audit.jsonl');
  const envFiles: string[] = [];
  const metricsUrls: string[] = [];
  for (let i = 1; i <= WORKERS; i += 1) {
    const clientId = `pinrotate-worker-${i}`;
    const secret = randomBytes(18).toString('base64url');
    await admin.createClient({ id: clientId, name: `worker ${i}`, secret, mtlsRequired: false });
    const metricsPort = await freePort();
    metricsUrls.push(`http://127.0.0.1:${metricsPort}/metrics`);
    const env = localWorkerEnv({
      temporal: { address: info.temporalAddress, namespace: info.namespace, taskQueue: TASK_QUEUE },
      oauth: { clientId, secret },
      emulator,
      caPath,
      auditPath,
      metricsPort,
      rateLimitPerMinute: RATE_PER_MINUTE,
      logLevel: 'info',
      // The fleet's file: sources live in certDir; the worker reads nothing else a workflow names.
      extra: { CERT_SOURCE_DIRS: certDir, CERT_IDENTITY_MAP: identityMapPath },
    });
    const path = join(dir, `worker-${i}.env`);
    writeFileSync(path, formatEnvFile(env, `cluster suite worker ${i}`), { mode: 0o600 });
    envFiles.push(path);
  }
  const workerLog = (i: number, generation: number): string => join(dir, `worker-${i}.${generation}.log`);
  const workers: Proc[] = await Promise.all(envFiles.map((f, i) => startWorkerProcess(f, workerLog(i + 1, 1))));
  for (const w of workers) cleanups.push(() => killGroup(w));
  log(`${WORKERS} workers up in ${Math.round((Date.now() - started) / 1000)} s`);

  const promBin = prometheusBinary();
  let prometheus: Prometheus | undefined;
  if (promBin) {
    prometheus = await startPrometheus(promBin, dir, await freePort(), { 'temporal-server': [info.serverMetrics], 'pinrotate-worker': metricsUrls });
    const prom = prometheus;
    cleanups.push(() => prom.stop());
  } else {
    log('prometheus is not installed (scripts/install-prometheus.sh): the scrape check is skipped');
  }

  let connection = await Connection.connect({ address: info.temporalAddress });
  let client = new Client({ connection, namespace: info.namespace });
  const fleetId = `pin-fleet-cluster-${randomBytes(3).toString('hex')}`;
  const fleetStarted = Date.now();
  const handle = await startFleet(
    client,
    {
      clients: ids.map((clientId) => ({ clientId, certSource: `file:${join(certDir, `next-${certOf(clientId)}.pem`)}` })),
      concurrency: CONCURRENCY,
      overlap: OVERLAP,
      retry: { initialInterval: '200ms', maximumInterval: '2s', maximumAttempts: 50 },
    },
    { taskQueue: TASK_QUEUE, workflowId: fleetId },
  );
  const progressAt = async (done: number): Promise<FleetProgress> => {
    let last: FleetProgress | undefined;
    await waitFor(
      async () => {
        last = await queryProgress(client.workflow.getHandle(fleetId));
        return last.done >= done;
      },
      `${done} rotations done`,
      300_000,
      250,
    );
    return last as FleetProgress;
  };

  // 1. One worker SIGKILLed and started again.
  let p = await progressAt(Math.round(ROTATIONS * 0.2));
  log(`${p.done}/${p.total} done: SIGKILL worker 1`);
  await killGroup(workers[0]);
  workers[0] = await startWorkerProcess(envFiles[0], workerLog(1, 2));
  const restarted1 = workers[0];
  cleanups.push(() => killGroup(restarted1));
  log('worker 1 started again');

  // 2. Every cluster process SIGKILLed mid-fleet.
  p = await progressAt(Math.round(ROTATIONS * 0.5));
  log(`${p.done}/${p.total} done: SIGKILL every cluster process (server ${info.pids.server}, postmaster ${info.pids.postgres}, UI ${info.pids.ui})`);
  await killGroup(first.proc);
  await connection.close().catch(() => undefined);
  for (const pid of [info.pids.server, info.pids.postgres, info.pids.ui]) {
    if (!pid) continue;
    // Gone, or a zombie nobody reaps: either way it runs no more.
    await waitFor(async () => {
      try {
        return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '')[0] === 'Z';
      } catch {
        return true;
      }
    }, `pid ${pid} to die`, 10_000, 50);
  }

  // 3. A worker told to stop while the server is gone drains for a bounded time and exits with its log line.
  const sigtermAt = Date.now();
  workers[1].child.kill('SIGTERM');
  const exit = await workers[1].exited;
  const stopMs = Date.now() - sigtermAt;
  log(`worker 2 exited ${exit.code ?? exit.signal} ${stopMs} ms after SIGTERM with the server down`);
  assert.ok(stopMs < SHUTDOWN_EXIT_MS + 5000, `worker exits within ${SHUTDOWN_EXIT_MS + 5000} ms of SIGTERM (took ${stopMs})`);
  assert.equal(exit.signal, null, 'the worker exits by itself, not by a signal');
  assert.match(workers[1].log(), /"msg":"worker shutting down"/);
  assert.match(workers[1].log(), /"msg":"worker stopped/);

  // 4. The cluster started again on the same data directory resumes the fleet.
  const restartAt = Date.now();
  const second = startClusterProcess(dataDir, port, join(dir, 'cluster-2.log'));
  cleanups.push(() => killGroup(second.proc));
  const info2 = await second.ready;
  log(`cluster started again in ${Math.round((Date.now() - restartAt) / 1000)} s`);
  assert.equal(info2.temporalAddress, info.temporalAddress);
  workers[1] = await startWorkerProcess(envFiles[1], workerLog(2, 2));
  const restarted2 = workers[1];
  cleanups.push(() => killGroup(restarted2));
  connection = await Connection.connect({ address: info.temporalAddress });
  client = new Client({ connection, namespace: info.namespace });
  cleanups.push(() => connection.close());

  const outcome = await waitForFleet(client.workflow.getHandle(fleetId), { pollMs: 500 });
  const fleetSeconds = (Date.now() - fleetStarted) / 1000;
  log(`fleet ${outcome.end} in ${fleetSeconds.toFixed(1)} s: ${JSON.stringify(outcome.summary?.byStatus)}`);
  assert.equal(outcome.end, 'completed', outcome.error);
  assert.equal(outcome.summary?.done, ROTATIONS);
  assert.equal(outcome.summary?.byStatus.finalized, ROTATIONS, `every rotation finalized: ${JSON.stringify(outcome.summary?.failures.slice(0, 5))}`);
  void handle;

  // The platform holds exactly each client's new certificate, pinned as the only (primary) pin.
  for (const id of ids) {
    const state = await admin.getClient(id);
    assert.equal(state.pins.length, 1, `${id}: one pin after finalize`);
    assert.equal(state.pins[0].role, 'primary', `${id}: primary`);
    assert.equal(state.pins[0].sha256Certificate, poolDigest[certOf(id)], `${id}: pinned to its new certificate`);
  }

  // No webhook processed twice: one processed delivery per idempotency key, each event once per rotation.
  const { deliveries } = await admin.webhooks();
  const processed = new Map<string, number>();
  for (const d of deliveries) {
    assert.ok(d.signatureValid, `delivery ${d.seq} is signed`);
    if (!d.duplicate && d.status === 200 && d.idempotencyKey) processed.set(d.idempotencyKey, (processed.get(d.idempotencyKey) ?? 0) + 1);
  }
  assert.ok([...processed.values()].every((n) => n === 1), 'no idempotency key processed twice');
  const stats = await admin.stats();
  assert.equal(stats.webhooks.processed.certificate_rotation, ROTATIONS, 'one certificate_rotation processed per rotation');
  assert.equal(stats.webhooks.processed.rotation_finalized, ROTATIONS, 'one rotation_finalized processed per rotation');
  const duplicates = deliveries.filter((d) => d.duplicate).length;

  // Audit: a finalized line for every run, and any second line of a run is the same record written again.
  const raw = readFileSync(auditPath, 'utf8').split('\n').filter(Boolean);
  const lines = raw.map((l) => JSON.parse(l) as { workflowId: string; runId: string; status: string; clientId: string; timestamp: string });
  const perRun = new Map<string, typeof lines>();
  for (const l of lines) perRun.set(`${l.workflowId}#${l.runId}`, [...(perRun.get(`${l.workflowId}#${l.runId}`) ?? []), l]);
  assert.equal(new Set(lines.filter((l) => l.status === 'finalized').map((l) => l.clientId)).size, ROTATIONS, 'a finalized audit line for every client');
  assert.equal(perRun.size, ROTATIONS, 'audit lines of exactly one run per client');
  const twice = [...perRun.entries()].filter(([, ls]) => ls.length > 1);
  for (const [key, ls] of twice) assert.ok(ls.every((l) => l.status === ls[0].status && l.clientId === ls[0].clientId), `${key}: a repeated line repeats the same outcome`);
  auditDuplicates = twice.map(([key, ls]) => `${key} x${ls.length}`);
  log(`audit: ${lines.length} lines for ${perRun.size} runs${twice.length ? `; written twice: ${auditDuplicates.join(', ')}` : ''}`);

  // The cluster-wide cap held: the platform never saw more than the account's rate, whichever worker called.
  const perSecond = RATE_PER_MINUTE / 60;
  const maxWindow = maxInWindow(recorder.times, WINDOW_S * 1000);
  const maxMinute = maxInWindow(recorder.times, 60_000);
  const max1s = maxInWindow(recorder.times, 1000);
  // The server dispatches from a token bucket (up to one second's worth at once); a busy worker may then send a
  // second's worth of dispatched calls together. Without the cluster-wide cap three workers would send 3x.
  const allowed = Math.ceil(perSecond * (WINDOW_S + 2));
  const allowedMinute = Math.ceil(RATE_PER_MINUTE + 2 * perSecond);
  const apiRequests = recorder.times.length;
  const grants = stats.tokenGrants;
  log(
    `platform: ${apiRequests} API requests, ${stats.rateLimited429} answered 429, ${grants} token grants; busiest minute ${maxMinute} (≤ ${allowedMinute}), ` +
      `busiest ${WINDOW_S} s window ${maxWindow} (cap ${perSecond}/s → ≤ ${allowed}), busiest second ${max1s}; ${duplicates} duplicate webhook deliveries answered without processing`,
  );
  assert.ok(maxMinute <= allowedMinute, `at most ${allowedMinute} platform requests in any minute (saw ${maxMinute})`);
  assert.ok(maxWindow <= allowed, `at most ${allowed} platform requests in any ${WINDOW_S} s (saw ${maxWindow})`);
  assert.ok(grants >= WORKERS, `every worker used its own token (${grants} grants)`);

  // Prometheus scraped the server's and the workers' metrics.
  if (prometheus) {
    const prom = prometheus;
    let serverNames: string[] = [];
    let workerNames: string[] = [];
    await waitFor(
      async () => {
        serverNames = await prom.names('temporal-server');
        workerNames = await prom.names('pinrotate-worker');
        return workerNames.includes('rotations_total') && serverNames.includes('persistence_requests');
      },
      'metric names in Prometheus',
      30_000,
      500,
    ).catch(() => undefined);
    writeFileSync(join(dir, 'metric-names.json'), JSON.stringify({ server: serverNames, worker: workerNames }, null, 2));
    log(`Prometheus: ${serverNames.length} server metric names, ${workerNames.length} worker metric names`);
    process.stdout.write(`# prometheus server metric names: ${serverNames.join(' ')}\n# prometheus worker metric names: ${workerNames.join(' ')}\n`);
    for (const name of ['persistence_requests', 'service_requests', 'task_schedule_to_start_latency_bucket', 'workflow_success']) {
      assert.ok(serverNames.includes(name), `the server exposes ${name}`);
    }
    for (const name of ['rotations_total', 'platform_requests_total', 'rotation_duration_seconds_bucket', 'temporal_activity_execution_latency_bucket', 'temporal_workflow_completed']) {
      assert.ok(workerNames.includes(name), `the workers expose ${name}`);
    }
    const up = await prom.upTargets();
    assert.equal(up.length, 1 + WORKERS, `every target up: ${up.join(', ')}`);
  }
  log(`done in ${Math.round((Date.now() - started) / 1000)} s`);
});

// Workers share the audit file; the sink re-reads what others appended under a lock before it writes.
test('cluster: exactly one audit line per run across workers', () => {
  assert.ok(auditDuplicates, 'the fleet test ran');
  assert.deepEqual(auditDuplicates, [], 'no run audited twice');
});
