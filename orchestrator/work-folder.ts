// The work folder layout (DESIGN.md "Work folder"): every path the orchestrator reads or writes.
import { join } from 'node:path';
import { defaultHandler } from './known-handlers.js';

/** The handler `join` runs unless told otherwise (assets/known-handlers.json marks it). */
export const DEFAULT_HANDLER: { readonly name: string; readonly version: string } = (() => {
  const { name, version } = defaultHandler();
  return { name, version };
})();

export interface HandlerPaths {
  /** Packages/Plugins/<name>/<version>: the extracted handler and its runtime files. */
  packageDirectory: string;
  /** The verified zip kept beside the extracted folder, so reruns can check it. */
  packageZip: string;
  handlerEnvironmentFile: string;
  runtimeSettingsDirectory: string;
  statusDirectory: string;
  heartbeatFile: string;
  /** Logs/Plugins/<name>/<version>: the handler's own logs. */
  handlerLogDirectory: string;
  eventsDirectory: string;
  /** Records that the install command succeeded, so reruns skip it. */
  installedMarker: string;
}

export function handlerPaths(workdir: string, handlerName: string, version: string): HandlerPaths {
  const plugins = join(workdir, 'Packages', 'Plugins', handlerName);
  const packageDirectory = join(plugins, version);
  return {
    packageDirectory,
    packageZip: join(plugins, `${version}.zip`),
    handlerEnvironmentFile: join(packageDirectory, 'HandlerEnvironment.json'),
    runtimeSettingsDirectory: join(packageDirectory, 'RuntimeSettings'),
    statusDirectory: join(packageDirectory, 'Status'),
    heartbeatFile: join(packageDirectory, 'heartbeat.log'),
    handlerLogDirectory: join(workdir, 'Logs', 'Plugins', handlerName, version),
    eventsDirectory: join(workdir, 'Logs', 'Plugins', handlerName, 'Events'),
    installedMarker: join(plugins, `${version}.installed.json`),
  };
}

export interface RunPaths {
  /** Logs/himdsproxy */
  root: string;
  /** Logs/himdsproxy/<run-id> */
  runDirectory: string;
  joinLog: string;
  proxyAccessLog: string;
  handlerOutputLog: string;
  lastRunFile: string;
}

export function runPaths(workdir: string, runId: string): RunPaths {
  const root = join(workdir, 'Logs', 'himdsproxy');
  const runDirectory = join(root, runId);
  return {
    root,
    runDirectory,
    joinLog: join(runDirectory, 'join.log'),
    proxyAccessLog: join(runDirectory, 'proxy.log'),
    handlerOutputLog: join(runDirectory, 'handler.log'),
    lastRunFile: join(root, 'last-run.json'),
  };
}

/** Files that coordinate runs in one work folder. */
export function coordinationPaths(workdir: string): { lockFile: string; proxyPidFile: string } {
  const root = join(workdir, 'Logs', 'himdsproxy');
  return { lockFile: join(root, 'join.lock'), proxyPidFile: join(root, 'proxy.pid.json') };
}

/** Sortable, filesystem-safe and unique enough for one machine: 20261203T154500Z-1a2b */
export function newRunId(now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${Math.random().toString(16).slice(2, 6)}`;
}
