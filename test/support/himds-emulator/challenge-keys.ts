// The agent's key-file challenge: writing single-use secrets (well or badly) and redeeming them.
import { randomBytes, randomUUID } from 'node:crypto';
import { rm, symlink, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { EmulatorFaults } from './faults.js';

/** Larger than the 4096 bytes official clients accept. */
const OVERSIZE_SECRET_BYTES = 5000;

export type RedeemOutcome = 'accepted' | 'rejected' | 'absent';

interface PendingSecret {
  /** Every file written for this challenge, removed when the secret is used or the emulator stops. */
  files: string[];
}

/** Issues challenges into tokenDirectory (and, for hostile faults, outsideDirectory) and checks the answers. */
export class ChallengeKeyStore {
  readonly #pending = new Map<string, PendingSecret>();
  /** Every secret ever written, so tests can assert none of them leaks into logs or answers. */
  readonly issuedSecrets: string[] = [];

  constructor(
    private readonly tokenDirectory: string,
    private readonly outsideDirectory: string,
  ) {}

  /** Writes a fresh secret as the faults dictate; returns the WWW-Authenticate value, or undefined for none. */
  async issueChallenge(faults: EmulatorFaults): Promise<string | undefined> {
    if (faults.noChallengeHeader) return undefined;
    if (faults.missingRealm) return 'Basic';

    const name = randomUUID();
    const secret = randomBytes(faults.oversizeKey ? OVERSIZE_SECRET_BYTES / 2 : 32).toString('hex');
    const files: string[] = [];
    let realm: string;

    if (faults.realmOutsideDirectory || faults.realmTraversal || faults.symlinkKey) {
      const outsideFile = join(this.outsideDirectory, `${name}.key`);
      await writeSecretFile(outsideFile, secret);
      files.push(outsideFile);
      if (faults.symlinkKey) {
        realm = join(this.tokenDirectory, `${name}.key`);
        await symlink(outsideFile, realm);
        files.push(realm);
      } else if (faults.realmTraversal) {
        // Starts with tokenDirectory, so only a check that resolves `..` notices it leaves.
        realm = `${this.tokenDirectory}${sep}${relative(this.tokenDirectory, outsideFile)}`;
      } else {
        realm = outsideFile;
      }
    } else {
      // ".key.txt" contains ".key" without ending in it: a check with includes() would pass.
      realm = join(this.tokenDirectory, faults.nonKeyFile ? `${name}.key.txt` : `${name}.key`);
      await writeSecretFile(realm, secret);
      files.push(realm);
    }

    this.#pending.set(secret, { files });
    this.issuedSecrets.push(secret);
    return `Basic realm=${realm}`;
  }

  /** Checks an Authorization header against the outstanding secrets; a secret works at most once. */
  async redeem(authorization: string | undefined, faults: EmulatorFaults): Promise<RedeemOutcome> {
    if (authorization === undefined) return 'absent';
    if (!authorization.startsWith('Basic ')) return 'rejected';
    const secret = authorization.slice('Basic '.length);
    const pending = this.#pending.get(secret);
    if (pending === undefined) return 'rejected';
    this.#pending.delete(secret);
    await removeFiles(pending.files);
    return faults.wrongSecret ? 'rejected' : 'accepted';
  }

  /** How many challenges are still waiting for their secret. */
  get outstanding(): number {
    return this.#pending.size;
  }

  /** Removes every file this store wrote and forgets every secret. */
  async removeAll(): Promise<void> {
    const files = [...this.#pending.values()].flatMap((pending) => pending.files);
    this.#pending.clear();
    await removeFiles(files);
  }
}

async function writeSecretFile(path: string, secret: string): Promise<void> {
  // 'wx': a name collision must fail loudly rather than overwrite someone's file.
  await writeFile(path, secret, { mode: 0o600, flag: 'wx' });
}

async function removeFiles(files: string[]): Promise<void> {
  await Promise.all(files.map((file) => rm(file, { force: true })));
}
