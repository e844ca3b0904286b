// Cleaning up after an earlier run that crashed or was killed: its proxy, its handler command and the address it added.
import { rm } from 'node:fs/promises';
import { EXIT_CODES, HimdsproxyError } from './errors.js';
import type { ProcessDescriptor } from 'ps-list';
import { findProcess, identifyHandlerProcess, identifyProxyProcess, isProcessAlive, terminateProcess, type ProcessIdentification } from './process-check.js';
import { readProxyPidFile } from './proxy-pid-file.js';
import type { PlatformAdapter } from './platform/types.js';
import type { Reporter } from './reporter.js';
import { coordinationPaths } from './work-folder.js';

export interface StaleRunRecovery {
  /** The earlier run's proxy, stopped now. */
  stoppedPid?: number;
  /** The earlier run's handler command (install or enable), stopped now. */
  stoppedHandlerPid?: number;
  /** The address the earlier run added and never removed, removed now. */
  removedAddress?: string;
}

export interface StaleRunSettings {
  /** How long the stale proxy gets after SIGTERM before SIGKILL (and after SIGKILL). Default 5 s. */
  killDeadlineMs?: number;
}

const DEFAULT_KILL_DEADLINE_MS = 5_000;

/**
 * Reads the pid file an earlier run left behind (a run ends by removing it, so one that is
 * there means that run did not finish). Stops its proxy if that pid still runs our proxy,
 * never a process that merely reuses the pid, removes the address it recorded adding, and
 * deletes the pid file. Call it while holding the run lock.
 */
export async function recoverStaleRun(
  workdir: string,
  platform: PlatformAdapter,
  reporter: Reporter,
  settings: StaleRunSettings = {},
): Promise<StaleRunRecovery> {
  const { proxyPidFile } = coordinationPaths(workdir);
  const contents = await readProxyPidFile(proxyPidFile);
  if (contents.kind === 'missing') {
    reporter.debug('No earlier run left anything to clean up');
    return {};
  }
  if (contents.kind === 'unreadable') {
    reporter.warn(`Ignoring ${proxyPidFile} left by an earlier run: ${contents.reason}`);
    await rm(proxyPidFile, { force: true });
    return {};
  }

  const record = contents.record;
  const recovery: StaleRunRecovery = {};
  const deadlineMs = settings.killDeadlineMs ?? DEFAULT_KILL_DEADLINE_MS;
  if (record.pid !== undefined) {
    const recordedStart = record.startedAt ? new Date(record.startedAt) : undefined;
    const stopped = await stopStaleProcess('proxy', record.pid, (entry) => identifyProxyProcess(entry, recordedStart), reporter, deadlineMs);
    if (stopped) recovery.stoppedPid = record.pid;
  }
  if (record.handlerPid !== undefined && record.handlerProgram !== undefined) {
    const program = record.handlerProgram;
    const recordedStart = record.handlerStartedAt ? new Date(record.handlerStartedAt) : undefined;
    const stopped = await stopStaleProcess('handler command', record.handlerPid, (entry) => identifyHandlerProcess(entry, program, recordedStart), reporter, deadlineMs);
    if (stopped) recovery.stoppedHandlerPid = record.handlerPid;
  }
  if (record.addressAdded && record.address) {
    const removed = await removeStaleAddress(record.address, platform, reporter);
    if (removed) recovery.removedAddress = record.address;
  }
  await rm(proxyPidFile, { force: true });
  return recovery;
}

/** True when it stopped the process; false when there was nothing of ours to stop. */
async function stopStaleProcess(
  what: string,
  pid: number,
  identify: (entry: ProcessDescriptor) => ProcessIdentification,
  reporter: Reporter,
  deadlineMs: number,
): Promise<boolean> {
  if (!isProcessAlive(pid)) {
    reporter.debug(`The earlier run's ${what} (pid ${pid}) is no longer running`);
    return false;
  }
  let entry;
  try {
    entry = await findProcess(pid);
  } catch (error) {
    reporter.warn(`Could not list processes to check pid ${pid} from an earlier run (${(error as Error).message}); leaving it alone`);
    return false;
  }
  if (!entry) {
    reporter.debug(`The earlier run's ${what} (pid ${pid}) ended while being checked`);
    return false;
  }
  const identification = identify(entry);
  if (!identification.ours) {
    reporter.warn(`An earlier run recorded ${what} pid ${pid}, but ${identification.reason}; leaving it alone`);
    return false;
  }

  reporter.warn(`Stopping the ${what} an earlier run left running (pid ${pid}; ${identification.evidence})`);
  let gone: boolean;
  try {
    gone = await terminateProcess(pid, deadlineMs);
  } catch (error) {
    throw cannotStop(what, pid, (error as Error).message);
  }
  if (!gone) throw cannotStop(what, pid, `it is still running after SIGKILL`);
  return true;
}

async function removeStaleAddress(address: string, platform: PlatformAdapter, reporter: Reporter): Promise<boolean> {
  try {
    if (!(await platform.hasLoopbackAddress(address))) {
      reporter.debug(`${address}, added by an earlier run, is already gone`);
      return false;
    }
    reporter.warn(`Removing ${address}, which an earlier run added and did not remove`);
    await platform.removeLoopbackAddress(address);
    return true;
  } catch (error) {
    if (error instanceof HimdsproxyError) throw error;
    throw new HimdsproxyError(
      `Could not remove ${address}, left on this machine by an earlier run: ${(error as Error).message}`,
      EXIT_CODES.preflightFailed,
      'Run as Administrator (root on Linux): removing an address from the loopback interface needs it',
      { cause: error },
    );
  }
}

function cannotStop(what: string, pid: number, reason: string): HimdsproxyError {
  return new HimdsproxyError(
    `Could not stop the ${what} an earlier run left running (pid ${pid}): ${reason}`,
    EXIT_CODES.preflightFailed,
    process.platform === 'win32' ? `End it with: taskkill /F /PID ${pid}` : `End it with: kill -9 ${pid}`,
  );
}
