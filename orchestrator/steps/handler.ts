// Step "handler": runs the manifest's install (once) and enable commands the way the Guest Agent does.
import { execa } from 'execa';
import { appendFileSync, mkdirSync } from 'node:fs';
import { readFile, realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, posix, relative, win32 } from 'node:path';
import { writeFileAtomically } from '../atomic-write.js';
import { EXIT_CODES, HimdsproxyError } from '../errors.js';
import type { Reporter } from '../reporter.js';
import type { HandlerPaths } from '../work-folder.js';

export type HandlerCommandKind = 'install' | 'enable';

export interface HandlerCommandContext {
  paths: HandlerPaths;
  sequenceNumber: number;
  /** The run's handler output log; each command appends a header, its output and a footer. */
  outputLog: string;
  timeoutMs: number;
  reporter: Reporter;
  /** Aborting kills the command; a HimdsproxyError given as the abort reason is rethrown as is. */
  signal?: AbortSignal;
  /** Added to this process's environment for the command. */
  env?: NodeJS.ProcessEnv;
  /** Told when the command's process starts and ends, so a crash of this run can be cleaned up later. */
  processRecord?: { started(pid: number, program: string): Promise<void>; ended(): Promise<void> };
}

export interface ParsedHandlerCommand {
  /** Relative to the package folder, as written in the manifest. */
  program: string;
  args: string[];
}

/** Grace period between the polite stop (SIGTERM) and the forceful one when a command must end. */
const FORCE_KILL_AFTER_MS = 5_000;

/**
 * Splits a manifest command ("bin/custom-script-shim enable") into program and arguments.
 * Double or single quotes group words; backslashes are path separators, not escapes, since
 * Windows manifests use them. The program must stay inside the package folder: absolute
 * paths, drive letters and `..` segments are refused.
 */
export function parseHandlerCommand(command: string): ParsedHandlerCommand {
  const words = splitCommandWords(command);
  const [program, ...args] = words;
  if (program === undefined || program === '') {
    throw badCommand(command, 'it names no program');
  }
  if (program.includes('\0')) throw badCommand(command, 'the program name contains a NUL character');
  if (posix.isAbsolute(program) || win32.isAbsolute(program) || /^[a-zA-Z]:/.test(program)) {
    throw badCommand(command, `the program '${program}' is an absolute path; it must be relative to the package folder`);
  }
  if (program.split(/[\\/]/).includes('..')) {
    throw badCommand(command, `the program '${program}' climbs out of the package folder with '..'`);
  }
  return { program, args };
}

/** Runs one manifest command in the package folder, without a shell, and fails unless it exits 0. */
export async function runHandlerCommand(
  kind: HandlerCommandKind,
  command: string,
  context: HandlerCommandContext,
): Promise<void> {
  const { paths, sequenceNumber, outputLog, timeoutMs, reporter, signal } = context;
  throwIfAborted(kind, command, signal);
  const { program, args } = parseHandlerCommand(command);
  const programPath = await resolveProgramInPackage(paths.packageDirectory, program, command);

  reporter.info(`Running the handler ${kind} command: ${command}`);
  reporter.debug(`${kind}: ${programPath} ${JSON.stringify(args)} in ${paths.packageDirectory}, ConfigSequenceNumber=${sequenceNumber}, timeout ${timeoutMs} ms`);
  mkdirSync(dirname(outputLog), { recursive: true });
  const startedAt = Date.now();
  appendFileSync(outputLog, `=== ${new Date(startedAt).toISOString()} ${kind}: ${command} (ConfigSequenceNumber=${sequenceNumber}, in ${paths.packageDirectory}) ===\n`);
  const appendToLog = { file: outputLog, append: true } as const;
  const subprocess = execa(programPath, args, {
    cwd: paths.packageDirectory,
    env: { ...context.env, ConfigSequenceNumber: String(sequenceNumber) },
    extendEnv: true,
    shell: false,
    stdin: 'ignore',
    stdout: appendToLog,
    stderr: appendToLog,
    timeout: timeoutMs,
    forceKillAfterDelay: FORCE_KILL_AFTER_MS,
    windowsHide: true,
    reject: false,
    cancelSignal: signal,
  });
  if (subprocess.pid !== undefined) await context.processRecord?.started(subprocess.pid, programPath);
  const result = await subprocess;
  await context.processRecord?.ended();
  const ending = result.exitCode !== undefined ? `exit code ${result.exitCode}` : (result.signal ?? result.code ?? 'no exit code');
  appendFileSync(outputLog, `=== ${new Date().toISOString()} ${kind} ended: ${ending}${result.timedOut ? ' (timed out)' : ''}${result.isCanceled ? ' (cancelled)' : ''} ===\n`);
  const logHint = `Read the handler output in ${outputLog} and the handler's own logs in ${paths.handlerLogDirectory}`;
  const failure = commandFailure(kind, command, result, { timeoutMs, programPath, signal, logHint });
  if (failure) throw failure;
  reporter.info(`Handler ${kind} command finished in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
}

/** The fields of execa's result that decide a command's fate. */
interface HandlerCommandResult {
  exitCode?: number;
  signal?: string;
  code?: string;
  timedOut: boolean;
  isCanceled: boolean;
}

/** Why a finished command counts as failed, or undefined when it succeeded. */
function commandFailure(
  kind: HandlerCommandKind,
  command: string,
  result: HandlerCommandResult,
  context: { timeoutMs: number; programPath: string; signal: AbortSignal | undefined; logHint: string },
): HimdsproxyError | undefined {
  if (result.isCanceled) return abortError(kind, command, context.signal);
  if (result.timedOut) {
    return new HimdsproxyError(
      `Handler ${kind} command '${command}' timed out after ${formatSeconds(context.timeoutMs)} and was stopped`,
      EXIT_CODES.timedOut,
      context.logHint,
    );
  }
  if (result.exitCode === undefined && result.signal === undefined) {
    // The program never started: not found, not executable, or the OS refused it.
    return new HimdsproxyError(
      `Handler ${kind} command '${command}' could not be started (${result.code ?? 'unknown error'}): ${context.programPath}`,
      EXIT_CODES.handlerError,
      'Check that the package is complete and its program is executable; delete the package folder to download it again',
    );
  }
  if (result.exitCode === undefined) {
    return new HimdsproxyError(`Handler ${kind} command '${command}' was killed by ${result.signal}`, EXIT_CODES.handlerError, context.logHint);
  }
  if (result.exitCode !== 0) {
    return new HimdsproxyError(`Handler ${kind} command '${command}' exited with code ${result.exitCode}`, EXIT_CODES.handlerError, context.logHint);
  }
  return undefined;
}

/** What the install marker file records. */
interface InstallRecord {
  version: string;
  command: string;
  /** SHA-256 of the package zip installed: another zip under the same version number installs again. */
  packageSha256: string;
  installedAt: string;
}

/**
 * Runs the install command unless the marker says it already succeeded for this package
 * (zip SHA-256), version and command. The marker is written only after a successful install.
 */
export async function installOnce(installCommand: string, packageSha256: string, context: HandlerCommandContext): Promise<{ ran: boolean }> {
  const version = basename(context.paths.packageDirectory);
  const previous = await readInstallRecord(context.paths.installedMarker);
  if (previous && previous.version === version && previous.command === installCommand && previous.packageSha256 === packageSha256) {
    context.reporter.info(`Handler already installed on ${previous.installedAt}; skipping the install command`);
    return { ran: false };
  }
  if (previous) context.reporter.debug(`Install marker ${context.paths.installedMarker} is for another package, version or command; installing again`);
  await runHandlerCommand('install', installCommand, context);
  const record: InstallRecord = { version, command: installCommand, packageSha256, installedAt: new Date().toISOString() };
  await writeFileAtomically(context.paths.installedMarker, `${JSON.stringify(record, null, 2)}\n`);
  return { ran: true };
}

async function readInstallRecord(markerFile: string): Promise<InstallRecord | undefined> {
  let text: string;
  try {
    text = await readFile(markerFile, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const value = JSON.parse(text) as Partial<InstallRecord> | null;
    if (value && typeof value === 'object' && typeof value.version === 'string' && typeof value.command === 'string'
      && typeof value.packageSha256 === 'string' && typeof value.installedAt === 'string') {
      return { version: value.version, command: value.command, packageSha256: value.packageSha256, installedAt: value.installedAt };
    }
  } catch {
    // A damaged marker proves nothing: install again.
  }
  return undefined;
}

/** The program's real path, refused when it (or a link on the way) leads outside the package folder. */
async function resolveProgramInPackage(packageDirectory: string, program: string, command: string): Promise<string> {
  const candidate = join(packageDirectory, ...program.split(/[\\/]/).filter((segment) => segment !== '' && segment !== '.'));
  let realProgram: string;
  let realPackage: string;
  try {
    realPackage = await realpath(packageDirectory);
    realProgram = await realpath(candidate);
  } catch (error) {
    throw new HimdsproxyError(
      `Handler command '${command}' names ${program}, which is not in the package folder ${packageDirectory} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`,
      EXIT_CODES.packageFailed,
      'Delete the package folder so the next run downloads and extracts it again',
    );
  }
  const inside = relative(realPackage, realProgram);
  if (inside === '' || inside.startsWith('..') || isAbsolute(inside)) {
    throw badCommand(command, `the program '${program}' resolves to ${realProgram}, outside the package folder`);
  }
  return candidate;
}

function splitCommandWords(command: string): string[] {
  const words: string[] = [];
  let current = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (const character of command) {
    if (quote) {
      if (character === quote) quote = undefined;
      else current += character;
    } else if (character === '"' || character === "'") {
      quote = character;
      inWord = true;
    } else if (/\s/.test(character)) {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
    } else {
      current += character;
      inWord = true;
    }
  }
  if (quote) throw badCommand(command, `a ${quote} quote is never closed`);
  if (inWord) words.push(current);
  return words;
}

function badCommand(command: string, reason: string): HimdsproxyError {
  return new HimdsproxyError(
    `HandlerManifest.json command '${command}' cannot be run: ${reason}`,
    EXIT_CODES.packageFailed,
    'Use the handler package as published: its commands are programs inside the package folder',
  );
}

function throwIfAborted(kind: HandlerCommandKind, command: string, signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(kind, command, signal);
}

function abortError(kind: HandlerCommandKind, command: string, signal: AbortSignal | undefined): HimdsproxyError {
  if (signal?.reason instanceof HimdsproxyError) return signal.reason;
  return new HimdsproxyError(`Handler ${kind} command '${command}' was stopped: interrupted`, EXIT_CODES.interrupted);
}

function formatSeconds(milliseconds: number): string {
  return milliseconds % 1000 === 0 ? `${milliseconds / 1000} s` : `${(milliseconds / 1000).toFixed(1)} s`;
}
