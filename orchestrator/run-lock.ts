// One join at a time per work folder: an exclusive lock file that a crashed run's successor can take over.
import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { EXIT_CODES, HimdsproxyError } from './errors.js';
import { findProcess, isProcessAlive, startedAfter } from './process-check.js';
import type { Reporter } from './reporter.js';
import { coordinationPaths } from './work-folder.js';

export interface RunLock {
  readonly file: string;
  /** Removes the lock if it is still ours; safe to call more than once. */
  release(): Promise<void>;
}

interface LockOwner {
  pid: number;
  startedAt: string;
  hostname: string;
}

type LockState =
  | { kind: 'gone' }
  | { kind: 'held'; owner: LockOwner }
  | { kind: 'stale'; why: string; text: string };

/** Taking over a stale lock can race with another run doing the same; a few rounds settle it. */
const ACQUIRE_ROUNDS = 5;

/**
 * Takes the work folder's lock or throws HimdsproxyError(preflightFailed) naming the run that
 * holds it. A lock whose owner is gone (a crashed or killed run), or that is not a lock at
 * all, is taken over with a warning.
 */
export async function acquireRunLock(workdir: string, reporter?: Reporter): Promise<RunLock> {
  const { lockFile } = coordinationPaths(workdir);
  await mkdir(dirname(lockFile), { recursive: true });
  const ownText = `${JSON.stringify({ pid: process.pid, startedAt: new Date().toISOString(), hostname: hostname() } satisfies LockOwner)}\n`;

  for (let round = 1; round <= ACQUIRE_ROUNDS; round++) {
    if (await createExclusively(lockFile, ownText)) return heldLock(lockFile, ownText);
    const state = await inspectLock(lockFile);
    if (state.kind === 'gone') continue;
    if (state.kind === 'held') throw anotherRunIsActive(workdir, lockFile, state.owner);
    if (await removeIfUnchanged(lockFile, state.text)) {
      reporter?.warn(`Took over the lock of an earlier run that is no longer running (${state.why}): ${lockFile}`);
    }
  }
  throw new HimdsproxyError(
    `Could not take the lock ${lockFile}: other runs kept changing it`,
    EXIT_CODES.preflightFailed,
    'Make sure only one `himdsproxy join` runs in this work folder, then try again',
  );
}

function heldLock(lockFile: string, ownText: string): RunLock {
  let released = false;
  return {
    file: lockFile,
    async release() {
      if (released) return;
      released = true;
      // Someone may have judged us dead and taken over; their lock is not ours to remove.
      const text = await readFile(lockFile, 'utf8').catch(() => undefined);
      if (text === ownText) await rm(lockFile, { force: true });
    },
  };
}

/**
 * Creates the lock with complete contents in one step: written to a temporary file, then
 * hard-linked to the lock name, which fails if it exists. So no other run ever reads a
 * half-written lock and mistakes it for garbage. Falls back to an exclusive create where
 * the file system has no hard links.
 */
async function createExclusively(lockFile: string, text: string): Promise<boolean> {
  const temporaryFile = join(dirname(lockFile), `.${basename(lockFile)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  await writeFile(temporaryFile, text, { flag: 'wx' });
  try {
    await link(temporaryFile, lockFile);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS' && code !== 'EXDEV') throw error;
    try {
      await writeFile(lockFile, text, { flag: 'wx' });
      return true;
    } catch (fallbackError) {
      if ((fallbackError as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw fallbackError;
    }
  } finally {
    await rm(temporaryFile, { force: true });
  }
}

async function inspectLock(lockFile: string): Promise<LockState> {
  let text: string;
  try {
    text = await readFile(lockFile, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'gone' };
    throw error;
  }
  const owner = parseOwner(text);
  if (!owner) return { kind: 'stale', why: 'the lock file is not a himdsproxy lock', text };
  // Another machine sharing this folder: its processes cannot be checked from here.
  if (owner.hostname !== hostname()) return { kind: 'held', owner };
  if (owner.pid === process.pid) return { kind: 'held', owner };
  if (!isProcessAlive(owner.pid)) return { kind: 'stale', why: `pid ${owner.pid} has exited`, text };
  const entry = await findProcess(owner.pid).catch(() => undefined);
  if (entry && startedAfter(entry, new Date(owner.startedAt))) {
    return { kind: 'stale', why: `pid ${owner.pid} now belongs to a process started after the lock was taken`, text };
  }
  return { kind: 'held', owner };
}

/**
 * Removes a stale lock only if it still holds `expectedText`: it is first renamed aside
 * (atomic), and if what was renamed turns out to be a fresh lock another run just created,
 * it is linked back.
 */
async function removeIfUnchanged(lockFile: string, expectedText: string): Promise<boolean> {
  const aside = `${lockFile}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await rename(lockFile, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  try {
    const text = await readFile(aside, 'utf8');
    if (text === expectedText) return true;
    await link(aside, lockFile).catch(() => undefined);
    return false;
  } finally {
    await rm(aside, { force: true });
  }
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockOwner> | null;
    if (typeof value !== 'object' || value === null) return undefined;
    if (typeof value.pid !== 'number' || !Number.isSafeInteger(value.pid) || value.pid <= 0) return undefined;
    if (typeof value.startedAt !== 'string' || typeof value.hostname !== 'string') return undefined;
    return { pid: value.pid, startedAt: value.startedAt, hostname: value.hostname };
  } catch {
    return undefined;
  }
}

function anotherRunIsActive(workdir: string, lockFile: string, owner: LockOwner): HimdsproxyError {
  const where = owner.hostname === hostname() ? '' : ` on ${owner.hostname}`;
  return new HimdsproxyError(
    `Another himdsproxy join is running in ${workdir} (pid ${owner.pid}${where}, since ${owner.startedAt})`,
    EXIT_CODES.preflightFailed,
    `Wait for it to finish. If no himdsproxy join is running, delete ${lockFile}`,
  );
}
