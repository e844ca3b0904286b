// Check 4: the Azure Connected Machine agent looks installed: himds runs and its endpoints are in the environment.
import type { DoctorCheck } from '../check.js';
import type { RunningProcess } from '../context.js';

/** himds.exe on Windows, himds on Linux (PROTOCOLS.md §2). */
function isHimdsProcess(process: RunningProcess): boolean {
  return /^himds(\.exe)?$/i.test(process.name);
}

const ENDPOINT_VARIABLES = ['IMDS_ENDPOINT', 'IDENTITY_ENDPOINT'] as const;

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

export const arcAgentCheck: DoctorCheck = {
  id: 'arc-agent',
  title: 'Arc agent',
  async run(context) {
    const windows = context.platform.name === 'windows';
    const himds = (await context.processList()).find(isHimdsProcess);
    const missingVariables = ENDPOINT_VARIABLES.filter((name) => !context.env[name]?.trim());
    const malformedVariables = ENDPOINT_VARIABLES.filter((name) => context.env[name]?.trim() && !isHttpUrl(context.env[name]!.trim()));
    const found: string[] = [];
    const problems: string[] = [];
    if (himds) found.push(`himds is running (pid ${himds.pid})`);
    else problems.push('no himds process is running');
    for (const name of ENDPOINT_VARIABLES) {
      if (context.env[name]?.trim() && !malformedVariables.includes(name)) found.push(`${name}=${context.env[name]!.trim()}`);
    }
    if (missingVariables.length > 0) problems.push(`${missingVariables.join(' and ')} not set`);
    for (const name of malformedVariables) problems.push(`${name} is not an http URL ("${context.env[name]!.trim().slice(0, 80)}")`);
    if (problems.length === 0) return { outcome: 'pass', detail: `${found.join('; ')}.` };

    const fixes: string[] = [];
    if (!himds) {
      fixes.push(windows
        ? 'Install and connect the Azure Connected Machine agent (azcmagent connect), then Start-Service himds.'
        : 'Install and connect the Azure Connected Machine agent (azcmagent connect), then systemctl start himdsd.');
    }
    if (missingVariables.length > 0 || malformedVariables.length > 0) {
      fixes.push(windows
        ? 'The agent installer sets these machine-wide (IMDS_ENDPOINT=http://localhost:40342): open a new console, or reinstall the agent.'
        : 'On Linux the agent sets these only for systemd services; --himds names the endpoint if it is not the default.');
    }
    return {
      outcome: 'warn',
      detail: `${[...problems, ...found].join('; ')}. The HIMDS check below is the real test.`,
      fix: fixes.join(' '),
    };
  },
};
