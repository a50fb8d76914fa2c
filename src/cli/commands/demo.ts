import { X509Certificate } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describeCertificate, pinFromInfo } from '../../pins/digest';
import { connectClient, startRotation, waitForRotation } from '../../starter';
import { formatPins, printResult } from '../output';
import { startStack } from '../stack';
import { parse } from '../usage';

const HELP = `usage: pinrotate demo [--out DIR] [--keep-running] [--json]

Starts a Temporal dev server, the platform emulator and a worker on free ports, seeds a client with a
certificate from the emulator CA, issues a new one, rotates it (overlap 0s) and prints the pins before and
after. --out DIR writes new-certificate.pem, result.json and audit.jsonl there.
`;

const DEMO_CLIENT = 'demo-client';

export async function run(argv: string[]): Promise<number> {
  const { values } = parse(argv, { out: { type: 'string' }, 'keep-running': { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const started = Date.now();
  const say = (m: string): void => {
    process.stderr.write(`[demo] ${m}\n`);
  };
  const stateDir = mkdtempSync(join(tmpdir(), 'pinrotate-demo-'));
  const outDir = values.out ? resolve(values.out) : undefined;
  if (outDir) mkdirSync(outDir, { recursive: true });
  const auditPath = join(stateDir, 'audit.jsonl');
  const stack = await startStack({ dataDir: stateDir, persist: false, headless: !values['keep-running'], withWorker: true, auditPath, progress: say });
  try {
    say(`Temporal ${stack.temporal.address}${stack.temporal.uiUrl ? ` (UI ${stack.temporal.uiUrl})` : ''}, emulator ${stack.emulator.url}`);
    // The client as it is today: pinned to a certificate from the architecture CA.
    const current = await stack.admin.issueCertificate({ commonName: DEMO_CLIENT, days: 30 });
    const currentInfo = describeCertificate(new X509Certificate(current.certificatePem));
    await stack.admin.createClient({
      id: DEMO_CLIENT,
      name: 'Demo integration',
      secret: 'demo-client-secret-not-used-for-rotation',
      mtlsRequired: true,
      certificateChain: current.certificatePem,
      pins: [pinFromInfo(currentInfo, 'primary')],
    });
    const before = await stack.admin.getClient(DEMO_CLIENT);
    say(`seeded ${DEMO_CLIENT} (version ${before.version})`);

    const next = await stack.admin.issueCertificate({ commonName: DEMO_CLIENT, days: 90 });
    const expectedSpki = describeCertificate(new X509Certificate(next.certificatePem)).sha256Spki;
    say(`issued a new certificate; its SPKI pin is ${expectedSpki}`);

    const client = await connectClient({ address: stack.temporal.address });
    let result;
    try {
      const handle = await startRotation(client, { clientId: DEMO_CLIENT, certificatePem: next.certificatePem, overlap: '0s', serviceId: 'demo-service' });
      say(`started ${handle.workflowId}`);
      result = await waitForRotation(handle, { untilOverlap: false, onStatus: (s) => say(`phase ${s.phase}`) });
    } finally {
      await client.connection.close();
    }
    const after = await stack.admin.getClient(DEMO_CLIENT);
    const primary = after.pins.find((p) => p.role === 'primary');
    const ok = result.status === 'finalized' && primary?.sha256Spki === expectedSpki;

    if (!values.json) {
      process.stdout.write(`pins before (version ${before.version}):\n${formatPins(before.pins)}\n`);
      process.stdout.write(`pins after (version ${after.version}):\n${formatPins(after.pins)}\n`);
    }
    printResult(result, Boolean(values.json));
    if (outDir) {
      writeFileSync(join(outDir, 'new-certificate.pem'), next.certificatePem);
      writeFileSync(join(outDir, 'result.json'), `${JSON.stringify(result, null, 2)}\n`);
      if (existsSync(auditPath)) copyFileSync(auditPath, join(outDir, 'audit.jsonl'));
      say(`wrote new-certificate.pem, result.json and audit.jsonl to ${outDir}`);
    }
    say(ok ? `done in ${((Date.now() - started) / 1000).toFixed(1)}s: the primary pin is the new certificate's SPKI` : 'the rotation did not end as expected');
    if (values['keep-running']) {
      say(`still running (UI ${stack.temporal.uiUrl}, emulator admin token ${stack.emulator.adminToken}); Ctrl-C to stop`);
      await new Promise<void>((r) => {
        process.once('SIGINT', () => r());
        process.once('SIGTERM', () => r());
      });
    }
    return ok ? 0 : 1;
  } finally {
    await stack.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}
