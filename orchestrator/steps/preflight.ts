// Step 0 of join: doctor's checks; warnings are reported, any failure stops the join before it changes anything.
import type { CheckResult } from '../doctor/check.js';
import { createDoctorContext, type DoctorContext } from '../doctor/context.js';
import { runDoctor } from '../doctor/doctor.js';
import { EXIT_CODES, HimdsproxyError } from '../errors.js';
import type { JoinOptions } from '../join-options.js';
import type { PlatformAdapter } from '../platform/types.js';
import type { Reporter } from '../reporter.js';

/** What join's preflight needs from its options; JoinOptions has all of it. */
export type PreflightOptions = Pick<JoinOptions, 'workdir' | 'listen' | 'himdsUrl' | 'tokenDirectory' | 'force' | 'checkOutbound'>;

/**
 * Runs the checks on this machine with join's options. Returns every result; throws on a failure.
 * `overrides` replace parts of the real world (tests keep the outbound check off the internet).
 */
export async function runPreflight(
  options: PreflightOptions,
  platform: PlatformAdapter,
  reporter: Reporter,
  overrides: Partial<DoctorContext> = {},
): Promise<CheckResult[]> {
  return checkPreflight({ ...createDoctorContext({ ...options, platform, reporter }), ...overrides }, reporter);
}

/**
 * Passes go to the run log only, infos and warnings to the user too. Failures are listed in one
 * HimdsproxyError(preflightFailed) whose fix names each check's fix; message and fix are single
 * lines without a final full stop, as join's summary line adds its own punctuation.
 */
export async function checkPreflight(context: DoctorContext, reporter: Reporter): Promise<CheckResult[]> {
  const results = await runDoctor(context);
  for (const result of results) {
    const line = `${result.title}: ${result.detail}`;
    switch (result.outcome) {
      case 'pass':
        reporter.debug(`preflight pass: ${line}`);
        break;
      case 'info':
        reporter.info(line);
        break;
      case 'warn':
        reporter.warn(result.fix ? `${line} ${result.fix}` : line);
        break;
      case 'fail':
        reporter.debug(`preflight FAIL: ${line}${result.fix ? ` Fix: ${result.fix}` : ''}`);
        break;
    }
  }
  const failures = results.filter((result) => result.outcome === 'fail');
  if (failures.length === 0) return results;
  const what = failures.map((failure) => `${failure.title}: ${stripFinalStop(failure.detail)}`).join('; ');
  const fixes = failures.filter((failure) => failure.fix).map((failure) => `${failure.title}: ${stripFinalStop(failure.fix!)}`);
  throw new HimdsproxyError(
    `Preflight failed (${failures.length} of ${results.length} checks): ${what}`,
    EXIT_CODES.preflightFailed,
    [...fixes, 'run `himdsproxy doctor` for the full table'].join('; '),
  );
}

function stripFinalStop(text: string): string {
  return text.trim().replace(/\.$/, '');
}
