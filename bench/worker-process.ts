/**
 * A bench worker in its own process: `createWorker` with configuration from the environment (loadWorkerConfig),
 * the bench's prebuilt workflow bundle and optional tuning. Samples its own RSS every 100 ms and answers the
 * parent's `reset` / `usage` / `stop` messages over IPC.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { loadWorkerConfig } from '../src/config/worker-config';
import { createLogger } from '../src/logging';
import { createWorker, type WorkerTuning } from '../src/worker';

const send = (m: object): void => {
  process.send?.(m);
};

async function main(): Promise<void> {
  const config = loadWorkerConfig(process.env);
  const tuning = JSON.parse(process.env.BENCH_WORKER_TUNING ?? '{}') as WorkerTuning;
  const logger = createLogger(config.env.LOG_LEVEL);
  const running = await createWorker({ config, logger, tuning, workflowBundle: { codePath: process.env.BENCH_BUNDLE_PATH ?? '' } });

  let peakRss = process.memoryUsage().rss;
  let peakHeap = process.memoryUsage().heapUsed;
  let cpuFrom = process.cpuUsage();
  const sample = (): NodeJS.MemoryUsage => {
    const mem = process.memoryUsage();
    peakRss = Math.max(peakRss, mem.rss);
    peakHeap = Math.max(peakHeap, mem.heapUsed);
    return mem;
  };
  const sampler = setInterval(sample, 100);
  // BENCH_STEADY_PROFILE_DIR: the main thread profiled over the measurement window only (reset → usage), so start-up
  // and warm-up do not dilute it.
  const profileDir = process.env.BENCH_STEADY_PROFILE_DIR;
  let session: Session | undefined;
  process.on('message', async (m: { type: string }) => {
    if (m.type === 'reset' && profileDir) {
      session = new Session();
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: 500 });
      await session.post('Profiler.start');
    }
    if (m.type === 'reset') {
      peakRss = process.memoryUsage().rss;
      peakHeap = process.memoryUsage().heapUsed;
      cpuFrom = process.cpuUsage();
      send({ type: 'reset' });
    } else if (m.type === 'usage') {
      const mem = sample();
      const cpu = process.cpuUsage(cpuFrom);
      // What stays after a full collection (the parent starts this process with --expose-gc): retained, not slack.
      const gc = (globalThis as { gc?: () => void }).gc;
      gc?.();
      const after = process.memoryUsage();
      send({ type: 'usage', peakRss, peakHeapUsed: peakHeap, rss: mem.rss, heapUsed: mem.heapUsed, rssAfterGc: after.rss, heapAfterGc: after.heapUsed, cpuUserMs: cpu.user / 1000, cpuSystemMs: cpu.system / 1000 });
      if (session) {
        // After the usage is sent: writing the profile is not the rotations' CPU.
        const { profile } = await session.post('Profiler.stop');
        writeFileSync(join(profileDir!, `steady-main-${process.pid}.cpuprofile`), JSON.stringify(profile));
        session.disconnect();
        session = undefined;
      }
    } else if (m.type === 'stop') {
      running.shutdown();
    }
  });
  // The parent going away ends the worker too, so no bench leaves a poller behind.
  process.on('disconnect', () => running.shutdown());
  const done = running.run();
  send({ type: 'ready' });
  try {
    await done;
  } finally {
    clearInterval(sampler);
    await running.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    send({ type: 'error', message: err instanceof Error ? err.message : String(err) });
    process.stderr.write(`bench worker failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
