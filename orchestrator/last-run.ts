// Logs/himdsproxy/last-run.json: how the latest join ended, for people and scripts to read afterwards.
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomically } from './atomic-write.js';
import { EXIT_CODES, HimdsproxyError } from './errors.js';

export const LAST_RUN_OUTCOMES = ['joined', 'already-joined', 'failed', 'timed-out', 'interrupted'] as const;
export type LastRunOutcome = (typeof LAST_RUN_OUTCOMES)[number];

export interface LastRunSummary {
  runId: string;
  outcome: LastRunOutcome;
  exitCode: number;
  /** One line saying how it ended. */
  message: string;
  /** The handler's last status, e.g. "AADJoin success: Successfully joined machine to AAD." */
  handlerStatus?: string;
  /** ISO times. */
  startedAt: string;
  finishedAt: string;
  /** Step name → milliseconds. */
  durationsMs: Record<string, number>;
  logDirectory: string;
  logs: { join: string; proxy: string; handler: string };
}

/** Replaces the file in one step, so a reader never sees half of it. */
export async function writeLastRun(file: string, summary: LastRunSummary): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFileAtomically(file, `${JSON.stringify(summary, null, 2)}\n`);
}

/** Undefined when no run has finished yet; a HimdsproxyError when the file is not a summary. */
export async function readLastRun(file: string): Promise<LastRunSummary | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new HimdsproxyError(`Could not read ${file}: ${(error as Error).message}`, EXIT_CODES.internal);
  }
  let value: unknown;
  try {
    value = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch {
    throw unreadable(file, 'it is not JSON');
  }
  const problem = whyNotASummary(value);
  if (problem) throw unreadable(file, problem);
  return value as LastRunSummary;
}

function unreadable(file: string, reason: string): HimdsproxyError {
  return new HimdsproxyError(
    `${file} is not a himdsproxy run summary: ${reason}`,
    EXIT_CODES.internal,
    'Delete it; the next `himdsproxy join` writes a new one',
  );
}

/** Names the first thing wrong with a would-be summary, or undefined when it is one. */
function whyNotASummary(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'expected a JSON object';
  const summary = value as Record<string, unknown>;
  for (const key of ['runId', 'message', 'startedAt', 'finishedAt', 'logDirectory'] as const) {
    if (typeof summary[key] !== 'string') return `'${key}' should be a string`;
  }
  if (summary.handlerStatus !== undefined && typeof summary.handlerStatus !== 'string') return `'handlerStatus' should be a string`;
  if (!LAST_RUN_OUTCOMES.includes(summary.outcome as LastRunOutcome)) {
    return `'outcome' should be one of ${LAST_RUN_OUTCOMES.join(', ')}`;
  }
  if (typeof summary.exitCode !== 'number' || !Number.isInteger(summary.exitCode)) return `'exitCode' should be an integer`;
  const durations = summary.durationsMs;
  if (typeof durations !== 'object' || durations === null || Array.isArray(durations)) return `'durationsMs' should be an object`;
  if (Object.values(durations).some((milliseconds) => typeof milliseconds !== 'number' || !Number.isFinite(milliseconds))) {
    return `'durationsMs' should map step names to milliseconds`;
  }
  const logs = summary.logs as Record<string, unknown> | null | undefined;
  if (typeof logs !== 'object' || logs === null || Array.isArray(logs)) return `'logs' should be an object`;
  for (const key of ['join', 'proxy', 'handler'] as const) {
    if (typeof logs[key] !== 'string') return `'logs.${key}' should be a string`;
  }
  return undefined;
}
