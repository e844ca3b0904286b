// Step "status": reads the handler's Status/<n>.status and follows it until success or error.
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { EXIT_CODES, HimdsproxyError } from '../errors.js';
import type { Reporter } from '../reporter.js';

export type HandlerStatusValue = 'transitioning' | 'success' | 'error' | 'warning';

export interface HandlerStatus {
  status: HandlerStatusValue;
  operation?: string;
  code?: number;
  message?: string;
  timestamp?: Date;
  name?: string;
}

export interface FollowStatusOptions {
  /** Bounds the whole wait, including the time before the file first appears. */
  timeoutMs: number;
  pollIntervalMs?: number;
  /** Aborting stops the wait; a HimdsproxyError given as the abort reason is rethrown as is. */
  signal?: AbortSignal;
  /** Called once for every status that differs from the one before (status, code or message). */
  onStatus(status: HandlerStatus): void;
  reporter: Reporter;
}

const STATUS_VALUES: readonly HandlerStatusValue[] = ['transitioning', 'success', 'error', 'warning'];
/** Only these end the wait (PROTOCOLS.md §3): a warning may still turn into success. */
const TERMINAL_STATUS_VALUES: ReadonlySet<HandlerStatusValue> = new Set(['success', 'error']);
const DEFAULT_POLL_INTERVAL_MS = 300;

/**
 * Reads a status file's text: `[{version, timestampUTC, status: {name, operation, status, code,
 * formattedMessage: {lang, message}, substatus}}]`. Anything unreadable — empty, half-written,
 * garbage, an unknown status value — is undefined, meaning "not yet". Tolerates a UTF-8 BOM,
 * surrounding whitespace, a bare object instead of an array, key and value case differences,
 * numeric codes written as text, and both .NET (`\/Date(1702208649716)\/`) and ISO dates.
 */
export function parseStatusFile(text: string): HandlerStatus | undefined {
  const trimmed = text.replace(/^\uFEFF/, '').trim();
  if (trimmed === '') return undefined;
  let document: unknown;
  try {
    document = JSON.parse(trimmed);
  } catch {
    return undefined;
  }
  const entry = Array.isArray(document) ? document[0] : document;
  const status = field(entry, 'status');
  const value = field(status, 'status');
  if (typeof value !== 'string') return undefined;
  const normalised = value.trim().toLowerCase() as HandlerStatusValue;
  if (!STATUS_VALUES.includes(normalised)) return undefined;

  const result: HandlerStatus = { status: normalised };
  const operation = field(status, 'operation');
  if (typeof operation === 'string' && operation !== '') result.operation = operation;
  const name = field(status, 'name');
  if (typeof name === 'string' && name !== '') result.name = name;
  const code = statusCode(field(status, 'code'));
  if (code !== undefined) result.code = code;
  const message = field(field(status, 'formattedMessage'), 'message');
  if (typeof message === 'string' && message !== '') result.message = message;
  const timestamp = statusTimestamp(field(entry, 'timestampUTC'));
  if (timestamp) result.timestamp = timestamp;
  return result;
}

/**
 * Polls the status file until it reports success or error and returns that status. Polling,
 * not fs.watch: watchers miss replace-by-rename on some file systems and are unreliable on
 * network folders. A missing, locked or half-written file is simply read again later.
 */
export async function followStatus(statusFile: string, options: FollowStatusOptions): Promise<HandlerStatus> {
  const { timeoutMs, signal, reporter, onStatus } = options;
  const pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  const deadline = Date.now() + timeoutMs;
  let lastStatus: HandlerStatus | undefined;
  let lastKey: string | undefined;
  let lastProblem: string | undefined;
  reporter.debug(`Following ${statusFile} (timeout ${timeoutMs} ms, polling every ${pollIntervalMs} ms)`);

  for (;;) {
    throwIfAborted(signal, statusFile);
    const reading = await readStatus(statusFile);
    if (reading.status) {
      const key = JSON.stringify([reading.status.status, reading.status.code, reading.status.message, reading.status.operation]);
      if (key !== lastKey) {
        lastKey = key;
        lastStatus = reading.status;
        reporter.debug(`Status file ${statusFile}: ${key}`);
        onStatus(reading.status);
      }
      if (TERMINAL_STATUS_VALUES.has(reading.status.status)) return reading.status;
    } else if (reading.problem !== lastProblem) {
      lastProblem = reading.problem;
      reporter.debug(`Status file ${statusFile}: ${reading.problem}; reading again`);
    }

    const remaining = deadline - Date.now();
    if (remaining <= 0) throw timedOut(statusFile, timeoutMs, lastStatus);
    try {
      await sleep(Math.min(pollIntervalMs, remaining), undefined, signal ? { signal } : undefined);
    } catch (error) {
      throwIfAborted(signal, statusFile);
      throw error;
    }
  }
}

type StatusReading = { status: HandlerStatus; problem?: undefined } | { status?: undefined; problem: string };

async function readStatus(statusFile: string): Promise<StatusReading> {
  let text: string;
  try {
    text = await readFile(statusFile, 'utf8');
  } catch (error) {
    // ENOENT: not written yet, or caught between unlink and rename. EBUSY/EPERM/EACCES: Windows
    // writers hold the file locked while they replace it. All of these pass.
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    return { problem: code === 'ENOENT' ? 'not there yet' : `cannot be read yet (${code})` };
  }
  const status = parseStatusFile(text);
  return status ? { status } : { problem: `not a complete status yet (${text.length} characters)` };
}

function timedOut(statusFile: string, timeoutMs: number, lastStatus: HandlerStatus | undefined): HimdsproxyError {
  const seen = lastStatus
    ? `the last status was '${lastStatus.status}'${lastStatus.message ? `: ${lastStatus.message}` : ''}`
    : `no status appeared in ${statusFile}`;
  return new HimdsproxyError(
    `The handler did not report success or error within ${formatWait(timeoutMs)}; ${seen}`,
    EXIT_CODES.timedOut,
    "Rerun with a longer --timeout, and read the handler's own logs to see where it waits",
  );
}

function throwIfAborted(signal: AbortSignal | undefined, statusFile: string): void {
  if (!signal?.aborted) return;
  if (signal.reason instanceof HimdsproxyError) throw signal.reason;
  throw new HimdsproxyError(`Stopped following ${statusFile}: interrupted`, EXIT_CODES.interrupted);
}

/** A property looked up case-insensitively, since handlers differ in how they capitalise keys. */
function field(value: unknown, name: string): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  if (name in record) return record[name];
  const wanted = name.toLowerCase();
  const key = Object.keys(record).find((candidate) => candidate.toLowerCase() === wanted);
  return key === undefined ? undefined : record[key];
}

function statusCode(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && /^\s*-?\d+\s*$/.test(value)) return Number(value);
  return undefined;
}

/** .NET JSON dates ("/Date(1702208649716)/", optionally with an offset that does not change the instant) or ISO text. */
function statusTimestamp(value: unknown): Date | undefined {
  if (typeof value !== 'string') return undefined;
  const dotNet = /^\/Date\((-?\d+)(?:[+-]\d{4})?\)\/$/.exec(value.trim());
  const date = dotNet ? new Date(Number(dotNet[1])) : /^\d{4}-\d{2}-\d{2}/.test(value.trim()) ? new Date(value.trim()) : undefined;
  return date && !Number.isNaN(date.getTime()) ? date : undefined;
}

function formatWait(milliseconds: number): string {
  if (milliseconds >= 60_000 && milliseconds % 60_000 === 0) return `${milliseconds / 60_000} min`;
  return milliseconds % 1000 === 0 ? `${milliseconds / 1000} s` : `${(milliseconds / 1000).toFixed(1)} s`;
}
