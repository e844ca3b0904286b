// Pure presentation of doctor results: an aligned table for an 80-column console, or JSON for scripts.
import type { CheckOutcome, CheckResult } from './check.js';

const OUTCOME_LABELS: Record<CheckOutcome, string> = { pass: 'pass', warn: 'WARN', fail: 'FAIL', info: 'info' };
const HEADINGS = { check: 'Check', result: 'Result', detail: 'Detail / what to do' } as const;
const COLUMN_SEPARATOR = ' │ ';
/** One less than the console: a line filling all 80 columns makes older Windows consoles add a blank line. */
export const DEFAULT_TABLE_WIDTH = 79;
/** Below this the detail column gets too narrow to read; the table just grows wider. */
const MINIMUM_DETAIL_WIDTH = 30;

/**
 * One row per check, ending in a newline; summarise() gives the line to print under it.
 * The detail wraps in its column and the fix follows it after "→ ".
 * Words are never split (a URL stays copyable), so only a word longer than the column overflows.
 */
export function renderDoctorTable(results: readonly CheckResult[], width = DEFAULT_TABLE_WIDTH): string {
  const checkWidth = Math.max(HEADINGS.check.length, ...results.map((result) => result.title.length));
  const resultWidth = Math.max(HEADINGS.result.length, ...Object.values(OUTCOME_LABELS).map((label) => label.length));
  const detailWidth = Math.max(MINIMUM_DETAIL_WIDTH, width - checkWidth - resultWidth - 2 * COLUMN_SEPARATOR.length);

  const row = (check: string, result: string, detail: string): string =>
    [check.padEnd(checkWidth), result.padEnd(resultWidth), detail].join(COLUMN_SEPARATOR).trimEnd();
  const rule = ['─'.repeat(checkWidth), '─'.repeat(resultWidth), '─'.repeat(detailWidth)].join('─┼─');

  const lines = [row(HEADINGS.check, HEADINGS.result, HEADINGS.detail), rule];
  for (const result of results) {
    const detailLines = wrapWords(result.detail, detailWidth);
    if (result.fix) detailLines.push(...wrapWords(result.fix, detailWidth - 2).map((line, index) => (index === 0 ? '→ ' : '  ') + line));
    detailLines.forEach((detail, index) =>
      lines.push(index === 0 ? row(result.title, OUTCOME_LABELS[result.outcome], detail) : row('', '', detail)),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** One short line under the table: the verdict, then the counts of the outcomes that occur. */
export function summarise(results: readonly CheckResult[]): string {
  const count = (outcome: CheckOutcome): number => results.filter((result) => result.outcome === outcome).length;
  const parts = [
    [count('fail'), 'failed', 'failed'],
    [count('warn'), 'warning', 'warnings'],
    [count('pass'), 'passed', 'passed'],
    [count('info'), 'info', 'info'],
  ] as const;
  const counts = parts.filter(([n]) => n > 0).map(([n, one, many]) => `${n} ${n === 1 ? one : many}`).join(', ');
  const verdict = count('fail') > 0 ? 'Not ready for join' : 'Ready for join';
  return `${verdict}: ${counts || 'no checks ran'}.`;
}

/** `doctor --json`: { ok, checks }, ok meaning nothing failed (exit code 0). */
export function renderDoctorJson(results: readonly CheckResult[]): string {
  const ok = !results.some((result) => result.outcome === 'fail');
  return JSON.stringify({ ok, checks: results }, null, 2);
}

function wrapWords(text: string, width: number): string[] {
  const lines: string[] = [];
  let current = '';
  for (const word of text.split(/\s+/).filter((part) => part.length > 0)) {
    if (current && current.length + 1 + word.length > width) {
      lines.push(current);
      current = word;
    } else {
      current = current ? `${current} ${word}` : word;
    }
  }
  if (current || lines.length === 0) lines.push(current);
  return lines;
}
