// What one doctor check is and what it reports: the shared vocabulary of doctor, render and preflight.
import type { DoctorContext } from './context.js';

/**
 * pass: fine. warn: join may still work, but read this. fail: join would fail or do harm.
 * info: a fact worth knowing that is neither good nor bad (e.g. "already joined").
 */
export type CheckOutcome = 'pass' | 'warn' | 'fail' | 'info';

export interface CheckResult {
  /** Stable identifier for scripts reading `doctor --json`, e.g. "node-version". */
  id: string;
  /** Short label for the table, e.g. "Node.js version". */
  title: string;
  outcome: CheckOutcome;
  /** What was found. */
  detail: string;
  /** What to do about it; present for every warn and fail. */
  fix?: string;
}

/** A check reads the world through the context only, and never changes anything. */
export interface DoctorCheck {
  id: string;
  title: string;
  run(context: DoctorContext): Promise<Omit<CheckResult, 'id' | 'title'>>;
}

/** Ends text with exactly one full stop, for details built from messages that may carry their own. */
export function asSentence(text: string): string {
  const trimmed = text.trim();
  return /[.!?]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}
