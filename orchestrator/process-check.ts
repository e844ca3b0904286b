// Questions about other processes by pid: is it alive, is it our proxy, wait for it to go, end it.
import psList, { type ProcessDescriptor } from 'ps-list';
import { setTimeout as sleep } from 'node:timers/promises';
import { PROXY_PROCESS_TITLE } from '../core/contract.js';

/**
 * True while a process with this pid exists. EPERM means it exists but belongs to someone
 * else (still alive); ESRCH means it is gone.
 */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Polls until the process is gone; true when it went before the deadline. */
export async function waitForProcessExit(pid: number, deadlineMs: number, pollMs = 50): Promise<boolean> {
  const giveUpAt = Date.now() + deadlineMs;
  while (isProcessAlive(pid)) {
    if (Date.now() >= giveUpAt) return false;
    await sleep(pollMs);
  }
  return true;
}

/** Sends a signal, ignoring "already gone"; any other failure (EPERM) is the caller's to report. */
export function signalProcess(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** SIGTERM, then SIGKILL when it has not gone within `deadlineMs`. Resolves true when it is gone. */
export async function terminateProcess(pid: number, deadlineMs: number): Promise<boolean> {
  signalProcess(pid, 'SIGTERM');
  if (await waitForProcessExit(pid, deadlineMs)) return true;
  signalProcess(pid, 'SIGKILL');
  return waitForProcessExit(pid, deadlineMs);
}

export async function findProcess(pid: number): Promise<ProcessDescriptor | undefined> {
  const processes = await psList();
  return processes.find((candidate) => candidate.pid === pid);
}

/** ps reports start times to the second, in local time; allow for that and for slow pid-file writes. */
const START_TIME_TOLERANCE_MS = 5_000;

/**
 * True when the OS says this process started clearly after `recordedStart`, so it cannot be
 * the process recorded then: its pid was reused. False when the OS does not tell (Windows).
 */
export function startedAfter(entry: ProcessDescriptor, recordedStart: Date): boolean {
  if (!entry.startTime || Number.isNaN(recordedStart.getTime())) return false;
  return entry.startTime.getTime() > recordedStart.getTime() + START_TIME_TOLERANCE_MS;
}

export type ProcessIdentification =
  | { ours: true; evidence: string }
  | { ours: false; reason: string };

/**
 * Decides from a process-list entry whether a pid recorded by an earlier run still belongs to
 * a himdsproxy proxy, so a pid reused by an unrelated program is never killed.
 * The proxy renames itself (PROXY_PROCESS_TITLE), which replaces its command line on Linux;
 * otherwise its command line names core/main.js or core/main.ts. Windows reports neither
 * the command line nor the start time, so there only the image name can be checked.
 */
export function identifyProxyProcess(entry: ProcessDescriptor, recordedStart?: Date): ProcessIdentification {
  const cmd = entry.cmd?.trim();
  if (recordedStart && startedAfter(entry, recordedStart)) {
    return { ours: false, reason: `pid ${entry.pid} started at ${entry.startTime?.toISOString()}, after the recorded proxy (${recordedStart.toISOString()}): the pid was reused` };
  }
  if (cmd) {
    if (cmd === PROXY_PROCESS_TITLE || cmd.startsWith(`${PROXY_PROCESS_TITLE} `)) {
      return { ours: true, evidence: `its title is ${PROXY_PROCESS_TITLE}` };
    }
    const program = cmd.split(/\s+/)[0]!.replace(/"/g, '').split(/[\\/]/).pop()!;
    const runsNode = isNodeImage(entry.name) || isNodeImage(program);
    if (runsNode && /(^|[\\/\s"])core[\\/]main\.(js|ts)("|\s|$)/.test(cmd)) {
      return { ours: true, evidence: 'its command line runs core/main' };
    }
    return { ours: false, reason: `pid ${entry.pid} runs '${truncate(cmd, 120)}', not the himdsproxy proxy` };
  }
  if (entry.name === PROXY_PROCESS_TITLE || isNodeImage(entry.name)) {
    return { ours: true, evidence: `its image is ${entry.name} (the command line is not available on this OS)` };
  }
  return { ours: false, reason: `pid ${entry.pid} is ${entry.name || 'an unnamed process'}, not the himdsproxy proxy` };
}

function isNodeImage(name: string): boolean {
  return /^node(\.exe)?$/i.test(name);
}

function truncate(text: string, length: number): string {
  return text.length <= length ? text : `${text.slice(0, length)}…`;
}

/**
 * Is this the handler command an earlier run recorded? Where the OS shows command lines, the
 * program's own folder must appear in it (a script handler runs as "node …/bin/x.mjs"); where
 * it does not (Windows), the image name must be the program's file name.
 */
export function identifyHandlerProcess(entry: ProcessDescriptor, program: string, recordedStart?: Date): ProcessIdentification {
  if (recordedStart && startedAfter(entry, recordedStart)) {
    return { ours: false, reason: `pid ${entry.pid} started after the recorded handler command: the pid was reused` };
  }
  const cmd = entry.cmd?.trim();
  const folder = program.replace(/[\\/][^\\/]*$/, '');
  if (cmd) {
    if (folder !== '' && cmd.includes(folder)) return { ours: true, evidence: `its command line runs from ${folder}` };
    return { ours: false, reason: `pid ${entry.pid} runs '${truncate(cmd, 120)}', not the handler in ${folder}` };
  }
  const fileName = program.split(/[\\/]/).pop() ?? '';
  if (fileName !== '' && entry.name.toLowerCase() === fileName.toLowerCase()) return { ours: true, evidence: `its image is ${entry.name}` };
  return { ours: false, reason: `pid ${entry.pid} is ${entry.name || 'an unnamed process'}, not ${fileName}` };
}
