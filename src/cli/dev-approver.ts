import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ensurePrivateDir, writePrivateFile } from '../config/private-files';

/** The approver id `pinrotate dev` trusts out of the box, and where its key lives in the data directory. */
export const DEV_APPROVER_ID = 'dev-approver';

export function devApproverKeyPath(dataDir: string): string {
  return join(resolve(dataDir), `${DEV_APPROVER_ID}.key`);
}

/**
 * A local stack's approver (DESIGN.md §4 Approval): an Ed25519 key pair made once in the data directory, its public
 * half in the directory the worker reads as APPROVER_KEYS. `pinrotate approve` signs with it when no other key is
 * given; a production worker trusts its approvers' public keys only, never a key on its own disk.
 */
export function ensureDevApprover(dataDir: string): { id: string; keyPath: string; keysDir: string } {
  const keysDir = join(resolve(dataDir), 'approver-keys');
  ensurePrivateDir(keysDir);
  const keyPath = devApproverKeyPath(dataDir);
  let privatePem: string;
  if (existsSync(keyPath)) {
    privatePem = readFileSync(keyPath, 'utf8');
  } else {
    privatePem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    writePrivateFile(keyPath, privatePem);
  }
  const publicPem = createPublicKey(createPrivateKey(privatePem)).export({ type: 'spki', format: 'pem' }).toString();
  writePrivateFile(join(keysDir, `${DEV_APPROVER_ID}.pem`), publicPem);
  return { id: DEV_APPROVER_ID, keyPath, keysDir };
}

