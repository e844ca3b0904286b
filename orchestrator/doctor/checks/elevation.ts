// Check 2: runs as Administrator (Windows) or root (Linux), which adding the address and reading key files need.
import { IMDS_ADDRESS, isLoopbackHost } from '../../../core/contract.js';
import type { DoctorCheck } from '../check.js';

export const elevationCheck: DoctorCheck = {
  id: 'elevated',
  title: 'Administrator',
  async run(context) {
    const windows = context.platform.name === 'windows';
    const role = windows ? 'Administrator' : 'root';
    if (await context.platform.isElevated()) return { outcome: 'pass', detail: `Running as ${role}.` };
    const fix = windows
      ? 'Open PowerShell with "Run as Administrator" and run the command again.'
      : 'Run the command again as root (sudo).';
    // With a loopback --listen (tests, demo) no address is added, so elevation is only advice.
    if (isLoopbackHost(context.listen.host)) {
      return {
        outcome: 'warn',
        detail: `Not running as ${role}. Fine for a loopback listen address (${context.listen.host}); a real join needs it to add ${IMDS_ADDRESS} and read the agent's key files.`,
        fix,
      };
    }
    return {
      outcome: 'fail',
      detail: `Not running as ${role}: adding ${context.listen.host} to the loopback interface and reading the Arc agent's key files need it.`,
      fix,
    };
  },
};
