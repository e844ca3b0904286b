// Runs every doctor check (issue 4, items 1–9) and turns the results into doctor's exit code.
import { EXIT_CODES } from '../errors.js';
import { asSentence, type CheckResult, type DoctorCheck } from './check.js';
import { arcAgentCheck } from './checks/arc-agent.js';
import { elevationCheck } from './checks/elevation.js';
import { entraJoinCheck } from './checks/entra-join.js';
import { himdsCheck } from './checks/himds.js';
import { metadataAddressCheck } from './checks/metadata-address.js';
import { nodeVersionCheck } from './checks/node-version.js';
import { operatingSystemCheck } from './checks/operating-system.js';
import { outboundCheck } from './checks/outbound.js';
import { workFolderCheck } from './checks/work-folder.js';
import type { DoctorContext } from './context.js';

/** In the order the table shows them: what the machine is, who runs it, then what it can reach. */
export const DOCTOR_CHECKS: readonly DoctorCheck[] = [
  operatingSystemCheck,
  elevationCheck,
  nodeVersionCheck,
  arcAgentCheck,
  himdsCheck,
  metadataAddressCheck,
  entraJoinCheck,
  outboundCheck,
  workFolderCheck,
];

/**
 * Runs the checks concurrently (several wait on the network) and returns results in check order.
 * Never throws for a check: one that crashes is reported as a failure carrying its error.
 */
export async function runDoctor(context: DoctorContext, checks: readonly DoctorCheck[] = DOCTOR_CHECKS): Promise<CheckResult[]> {
  return Promise.all(checks.map((check) => runOneCheck(check, context)));
}

async function runOneCheck(check: DoctorCheck, context: DoctorContext): Promise<CheckResult> {
  try {
    const result = await check.run(context);
    return { id: check.id, title: check.title, ...result };
  } catch (error) {
    return {
      id: check.id,
      title: check.title,
      outcome: 'fail',
      detail: asSentence(`The check itself failed: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`),
      fix: 'Something unexpected in this environment; run `himdsproxy doctor` again, and report it with this message if it persists.',
    };
  }
}

/** 0 when nothing failed (warnings and infos allowed), 3 (preflight failed) otherwise. */
export function doctorExitCode(results: readonly CheckResult[]): 0 | 3 {
  return results.some((result) => result.outcome === 'fail') ? EXIT_CODES.preflightFailed : EXIT_CODES.ok;
}
