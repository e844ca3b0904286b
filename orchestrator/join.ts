// The Entra join workflow: the step sequence, and the teardown that always runs after it.
import { join as joinPath } from 'node:path';
import { parseListenAddress } from '../core/contract.js';
import { EXIT_CODES, HimdsproxyError } from './errors.js';
import type { JoinOptions } from './join-options.js';
import { outcomeFromError, summaryLine, type JoinOutcome } from './join-outcome.js';
import { writeLastRun, type LastRunSummary } from './last-run.js';
import type { PlatformAdapter } from './platform/types.js';
import { RunLogReporter, type Reporter } from './reporter.js';
import { acquireRunLock } from './run-lock.js';
import { recoverStaleRun } from './stale-run.js';
import { claimMetadataAddress, type AddressClaim } from './steps/address.js';
import { configureHandler } from './steps/configure.js';
import { enableAndFollowStatus } from './steps/enable.js';
import { installOnce } from './steps/handler.js';
import { preparePackage } from './steps/package/package.js';
import { clearHandlerFromPidFile, recordHandlerInPidFile } from './proxy-pid-file.js';
import { clearAddressFromPidFile, launchProxy, recordAddressInPidFile, type LaunchedProxy } from './steps/proxy.js';
import type { HandlerStatus } from './steps/status.js';
import { timedStep } from './steps/step-timer.js';
import { coordinationPaths, newRunId, runPaths } from './work-folder.js';

export interface JoinEnvironment {
  platform: PlatformAdapter;
  /** Aborted on Ctrl+C: the run stops where it is and tears down. */
  signal: AbortSignal;
  /** Checks that must pass before anything changes (doctor's checks in production). */
  preflight(reporter: Reporter): Promise<unknown>;
  terminal?: { write(text: string): unknown };
}

export interface JoinResult {
  outcome: JoinOutcome;
  runDirectory: string;
  joinLog: string;
  summaryLine: string;
}

/** Runs the whole join. Never throws: every ending becomes a JoinResult, after teardown. */
export async function join(options: JoinOptions, environment: JoinEnvironment): Promise<JoinResult> {
  const startedAt = new Date();
  const runId = newRunId(startedAt);
  const paths = runPaths(options.workdir, runId);
  const reporter = new RunLogReporter(paths.joinLog, environment.terminal);
  const durations: Record<string, number> = {};
  const teardown: { name: string; action: () => Promise<void> }[] = [];
  let handlerStatus: HandlerStatus | undefined;
  let outcome: JoinOutcome;

  reporter.debug(`himdsproxy join, run ${runId}, options ${JSON.stringify(redactOptions(options))}`);
  try {
    const lock = await acquireRunLock(options.workdir, reporter);
    teardown.push({ name: 'release the run lock', action: () => lock.release() });
    outcome = await runSteps();
  } catch (error) {
    outcome = environment.signal.aborted ? outcomeFromError(interrupted()) : outcomeFromError(error);
    if (outcome.exitCode === EXIT_CODES.internal) reporter.debug(error instanceof Error ? (error.stack ?? error.message) : String(error));
  }

  // Teardown in reverse order of set-up; one failing action does not stop the others.
  for (const { name, action } of teardown.reverse()) {
    try {
      await action();
    } catch (error) {
      reporter.warn(`Could not ${name}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  const finishedAt = new Date();
  const summary: LastRunSummary = {
    runId,
    outcome: outcome.kind,
    exitCode: outcome.exitCode,
    message: outcome.message,
    ...(handlerStatus ? { handlerStatus: describeStatus(handlerStatus) } : {}),
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationsMs: durations,
    logDirectory: paths.runDirectory,
    logs: { join: paths.joinLog, proxy: paths.proxyAccessLog, handler: paths.handlerOutputLog },
  };
  try {
    await writeLastRun(paths.lastRunFile, summary);
  } catch (error) {
    reporter.warn(`Could not write ${paths.lastRunFile}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const line = summaryLine(outcome, finishedAt.getTime() - startedAt.getTime(), outcome.exitCode === 0 ? paths.runDirectory : paths.joinLog);
  reporter.info(line);
  return { outcome, runDirectory: paths.runDirectory, joinLog: paths.joinLog, summaryLine: line };

  async function runSteps(): Promise<JoinOutcome> {
    const { platform, signal } = environment;
    const listen = parseListenAddress(options.listen);
    if (!listen) throw new HimdsproxyError(`--listen must be HOST:PORT, got '${options.listen}'`, EXIT_CODES.usage);
    const step = <T>(name: string, action: () => Promise<T>): Promise<T> => {
      throwIfInterrupted(signal);
      return timedStep(name, reporter, durations, action);
    };

    await step('recover from an earlier run', () => recoverStaleRun(options.workdir, platform, reporter));

    const joinState = await step('check the join state', () => platform.entraJoinState());
    if (joinState?.joined && !options.force) {
      const device = joinState.deviceId ? ` (DeviceId ${joinState.deviceId})` : '';
      return { kind: 'already-joined', exitCode: EXIT_CODES.ok, message: `Already joined to Microsoft Entra ID${device}; nothing to do (--force runs anyway)` };
    }

    await step('preflight checks', () => environment.preflight(reporter));

    const prepared = await step('handler package', () =>
      preparePackage(
        options.workdir,
        {
          handlerName: options.handlerName,
          version: options.handlerVersion,
          ...(options.handlerZip ? { zipPath: options.handlerZip } : { url: options.handlerUrl }),
          ...(options.sha256 ? { sha256: options.sha256 } : {}),
        },
        reporter,
        { showProgress: options.showProgress, signal },
      ),
    );

    const { sequenceNumber } = await step('handler settings', () =>
      configureHandler(prepared.paths, options.handlerName, { mdmId: options.mdmId }, reporter),
    );

    const { proxyPidFile } = coordinationPaths(options.workdir);
    const claim: AddressClaim = await step(`address ${listen.host}`, () =>
      claimMetadataAddress(listen, platform, reporter, { force: options.force }),
    );
    teardown.push({
      name: `remove ${listen.host}`,
      action: async () => {
        await claim.release();
        await clearAddressFromPidFile(proxyPidFile);
      },
    });
    // Recorded before the proxy starts, so a crash from here on leaves the next run a note to clean up.
    if (claim.addedByThisRun) await recordAddressInPidFile(proxyPidFile, claim.host);

    const proxy: LaunchedProxy = await step('start the proxy', () =>
      launchProxy(
        {
          listen: options.listen,
          himdsUrl: options.himdsUrl,
          tokenDirectory: options.tokenDirectory,
          allowedResources: options.allowedResources,
          upstreamTimeoutMs: options.upstreamTimeoutMs,
          accessLogFile: paths.proxyAccessLog,
        },
        reporter,
        { stderrLog: joinPath(paths.runDirectory, 'proxy.stderr.log'), pidFile: proxyPidFile },
      ),
    );
    // The handler may only run while the proxy lives: its death (not our own stop) aborts whatever runs.
    const proxyDeath = new AbortController();
    let stopping = false;
    teardown.push({ name: 'stop the proxy', action: () => { stopping = true; return proxy.stop(); } });
    reporter.info(`The proxy answers at ${proxy.url} for HIMDS ${options.himdsUrl}`);
    void proxy.exited.then((exit) => {
      if (stopping) return;
      const why = exit.fatalMessage ?? `exit code ${exit.exitCode ?? 'none'}${exit.signal ? `, signal ${exit.signal}` : ''}`;
      proxyDeath.abort(new HimdsproxyError(`The proxy stopped during the join (${why})`, EXIT_CODES.proxyFailed, `See ${paths.runDirectory}`));
    });
    const runSignal = AbortSignal.any([signal, proxyDeath.signal]);
    const handlerEnvironment = { HIMDSPROXY_IMDS_URL: proxy.url };
    const commandContext = {
      paths: prepared.paths,
      sequenceNumber,
      outputLog: paths.handlerOutputLog,
      reporter,
      signal: runSignal,
      env: handlerEnvironment,
      processRecord: {
        started: (pid: number, program: string) => recordHandlerInPidFile(proxyPidFile, { pid, program }),
        ended: () => clearHandlerFromPidFile(proxyPidFile),
      },
    };

    try {
      await step('handler install', () =>
        installOnce(prepared.manifest.installCommand, prepared.zipSha256, { ...commandContext, timeoutMs: options.installTimeoutMs }),
      );

      handlerStatus = await step('handler enable', () =>
        enableAndFollowStatus(
          {
            enableCommand: prepared.manifest.enableCommand,
            statusFile: joinPath(prepared.paths.statusDirectory, `${sequenceNumber}.status`),
            statusTimeoutMs: options.timeoutMs,
            reporter,
            onStatus: (status) => {
              handlerStatus = status;
              reporter.info(`  handler: ${describeStatus(status)}`);
            },
          },
          { ...commandContext, timeoutMs: options.enableTimeoutMs },
        ),
      );
    } catch (error) {
      // Ctrl+C in a terminal reaches the proxy too, so an interrupted run also sees the proxy end.
      throwIfInterrupted(signal);
      if (proxyDeath.signal.aborted) throw proxyDeath.signal.reason;
      throw error;
    }

    const after = await platform.entraJoinState().catch(() => undefined);
    if (after?.deviceId) reporter.info(`Entra DeviceId ${after.deviceId}${after.tenantId ? `, TenantId ${after.tenantId}` : ''}`);
    return { kind: 'joined', exitCode: EXIT_CODES.ok, message: handlerStatus?.message ?? 'The handler reported success' };
  }
}

function interrupted(): HimdsproxyError {
  return new HimdsproxyError('Interrupted', EXIT_CODES.interrupted, 'Run `himdsproxy join` again when ready: reruns are safe');
}

function throwIfInterrupted(signal: AbortSignal): void {
  if (signal.aborted) throw interrupted();
}

function describeStatus(status: HandlerStatus): string {
  const operation = status.operation ? `${status.operation} ` : '';
  const code = status.code === undefined ? '' : ` (code ${status.code})`;
  return `${operation}${status.status}${code}${status.message ? `: ${status.message}` : ''}`;
}

/** Download URLs may carry SAS tokens in their query: never log those. */
function redactOptions(options: JoinOptions): JoinOptions {
  if (!options.handlerUrl) return options;
  try {
    const url = new URL(options.handlerUrl);
    if (url.search) url.search = '?<redacted>';
    return { ...options, handlerUrl: url.toString() };
  } catch {
    return { ...options, handlerUrl: '<unparsable URL>' };
  }
}
