// The proxy pid file: what a run leaves behind for the next run to clean up if it crashes.
import { mkdir, readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomically } from './atomic-write.js';

/**
 * Exists exactly while something of a run may need cleaning up: the proxy process, and an
 * address that run added to the loopback interface.
 */
export interface ProxyPidRecord {
  /** The proxy process; absent once it has stopped while the address is still recorded. */
  pid?: number;
  listen?: string;
  /** Known once the proxy said it is ready. */
  url?: string;
  /** ISO time the proxy was started; tells a reused pid from ours. */
  startedAt?: string;
  /** The address this run added (and so must remove). */
  address?: string;
  addressAdded?: boolean;
  /** The handler command running now (install or enable), so a crashed run's successor can end it. */
  handlerPid?: number;
  /** Absolute path of that command's program, which identifies it in the process list. */
  handlerProgram?: string;
  handlerStartedAt?: string;
}

export type PidFileContents =
  | { kind: 'missing' }
  | { kind: 'unreadable'; reason: string }
  | { kind: 'record'; record: ProxyPidRecord };

export async function readProxyPidFile(file: string): Promise<PidFileContents> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    return { kind: 'unreadable', reason: (error as Error).message };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: 'unreadable', reason: 'it is not JSON' };
  }
  const record = parseRecord(value);
  return record ? { kind: 'record', record } : { kind: 'unreadable', reason: 'it does not describe a proxy run' };
}

/** Merges `patch` into the record (undefined removes a field); deletes the file when nothing is left. */
export async function updateProxyPidFile(file: string, patch: { [K in keyof ProxyPidRecord]?: ProxyPidRecord[K] | undefined }): Promise<void> {
  const current = await readProxyPidFile(file);
  const merged: Record<string, unknown> = current.kind === 'record' ? { ...current.record } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) delete merged[key];
    else merged[key] = value;
  }
  const stillNeeded = merged.pid !== undefined || merged.addressAdded === true || merged.handlerPid !== undefined;
  if (!stillNeeded) {
    await rm(file, { force: true });
    return;
  }
  await mkdir(dirname(file), { recursive: true });
  await writeFileAtomically(file, `${JSON.stringify(merged, null, 2)}\n`);
}

/** Records that this run added `address`, so a crashed run's successor removes it. */
export function recordAddressInPidFile(file: string, address: string): Promise<void> {
  return updateProxyPidFile(file, { address, addressAdded: true });
}

/** Call once the address this run added is removed again. */
export function clearAddressFromPidFile(file: string): Promise<void> {
  return updateProxyPidFile(file, { address: undefined, addressAdded: undefined });
}

/** Records the handler command that runs now, until clearHandlerFromPidFile. */
export function recordHandlerInPidFile(file: string, handler: { pid: number; program: string }): Promise<void> {
  return updateProxyPidFile(file, { handlerPid: handler.pid, handlerProgram: handler.program, handlerStartedAt: new Date().toISOString() });
}

export function clearHandlerFromPidFile(file: string): Promise<void> {
  return updateProxyPidFile(file, { handlerPid: undefined, handlerProgram: undefined, handlerStartedAt: undefined });
}

/** Called by the launcher once the proxy process is gone. */
export function clearProxyFromPidFile(file: string): Promise<void> {
  return updateProxyPidFile(file, { pid: undefined, listen: undefined, url: undefined, startedAt: undefined });
}

function parseRecord(value: unknown): ProxyPidRecord | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const raw = value as Record<string, unknown>;
  const record: ProxyPidRecord = {};
  for (const key of ['pid', 'handlerPid'] as const) {
    if (raw[key] === undefined) continue;
    if (typeof raw[key] !== 'number' || !Number.isSafeInteger(raw[key]) || raw[key] <= 0) return undefined;
    record[key] = raw[key];
  }
  for (const key of ['listen', 'url', 'startedAt', 'address', 'handlerProgram', 'handlerStartedAt'] as const) {
    if (raw[key] === undefined) continue;
    if (typeof raw[key] !== 'string') return undefined;
    record[key] = raw[key];
  }
  if (raw.addressAdded !== undefined) {
    if (typeof raw.addressAdded !== 'boolean') return undefined;
    record.addressAdded = raw.addressAdded;
  }
  if (record.handlerPid !== undefined && record.handlerProgram === undefined) return undefined;
  if (record.pid === undefined && record.handlerPid === undefined && !(record.addressAdded && record.address)) return undefined;
  return record;
}
