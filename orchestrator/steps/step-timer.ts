// Runs one workflow step with a start line, a finish line with its duration, and a recorded duration.
import { formatDuration } from '../duration.js';
import type { Reporter } from '../reporter.js';

export type StepEnding = 'started' | 'succeeded' | 'failed';

/** The line a person watching the run sees for a step: "▶ name", "✔ name (1.2 s)", "✖ name (1.2 s)". */
export function stepLine(ending: StepEnding, name: string, elapsedMs?: number): string {
  const elapsed = elapsedMs === undefined ? '' : ` (${formatDuration(elapsedMs)})`;
  if (ending === 'started') return `▶ ${name}`;
  return `${ending === 'succeeded' ? '✔' : '✖'} ${name}${elapsed}`;
}

/**
 * Runs `action` as the step `name`, recording its duration in whole milliseconds under
 * `durations[name]` whether it succeeds or fails. A failure is rethrown unchanged: the caller
 * reports it once, in the run's summary line, so the step line only marks where it happened.
 */
export async function timedStep<T>(
  name: string,
  reporter: Reporter,
  durations: Record<string, number>,
  action: () => Promise<T>,
): Promise<T> {
  // The start goes to the log only: on screen the step's own lines and its ✔/✖ line say enough.
  reporter.debug(stepLine('started', name));
  const startedAt = performance.now();
  const elapsed = (): number => Math.round(performance.now() - startedAt);
  try {
    const result = await action();
    durations[name] = elapsed();
    reporter.info(stepLine('succeeded', name, durations[name]));
    return result;
  } catch (error) {
    durations[name] = elapsed();
    reporter.info(stepLine('failed', name, durations[name]));
    reporter.debug(`${name} failed: ${error instanceof Error ? error.message : String(error)}`);
    throw error;
  }
}
