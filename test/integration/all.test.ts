import { after, before, describe } from 'node:test';
import { startHarness, stopHarness } from './harness';
import { replaySuite } from './replay.suite';
import { rotationSuite } from './rotation.suite';
import { drainSuite } from './drain.suite';
import { fleetSuite } from './fleet.suite';
import { lostAnswerSuite } from './lost-answer.suite';
import { sagaSuite } from './saga.suite';
import { scheduleSuite } from './schedule.suite';
import { securitySuite } from './security.suite';
import { hostileSuite } from './hostile.suite';
import { uiSuite } from './ui.suite';
import { devSuite } from './dev.suite';
import { upstreamSuite } from './upstream.suite';

// One process, one dev server, one workflow bundle for every integration suite.
describe('integration (real Temporal dev server + platform emulator)', { timeout: 15 * 60_000 }, () => {
  before(async () => {
    await startHarness();
  }, { timeout: 10 * 60_000 });
  after(async () => {
    await stopHarness();
    // Anything still holding the event loop now is a leak (a worker polling a stopped server polls forever):
    // leave rather than hang the run. Unref'd, so a clean exit never waits for it.
    setTimeout(() => {
      process.stderr.write('[harness] handles still open 15 s after teardown; exiting\n');
      process.exit(process.exitCode ?? 1);
    }, 15_000).unref();
  }, { timeout: 120_000 });
  describe('rotation', rotationSuite);
  describe('saga', sagaSuite);
  describe('upstream', upstreamSuite);
  describe('schedules', scheduleSuite);
  describe('drain', drainSuite);
  describe('fleet', fleetSuite);
  describe('ui', uiSuite);
  describe('dev and CLI processes', devSuite);
  describe('lost answers', lostAnswerSuite);
  // Last: they replay and scan what the suites above produced.
  describe('replay', replaySuite);
  describe('security', securitySuite);
  // After the secrets scan: these attacks put key material into start inputs on purpose.
  describe('hostile inputs', hostileSuite);
});
