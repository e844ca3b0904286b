// Check 5: HIMDS answers, instance metadata is readable and a device-registration token is obtainable.
import { ENTRA_DEVICE_REGISTRATION_RESOURCE } from '../../../core/contract.js';
import { asSentence, type DoctorCheck } from '../check.js';
import type { DoctorContext } from '../context.js';
import { HimdsProbeError } from '../himds-probe.js';

function keyFileAdvice(context: DoctorContext): string {
  return context.platform.name === 'windows'
    ? `Run as Administrator: the agent's key files in ${context.tokenDirectory} are readable only by Administrators and the "Hybrid agent extension applications" group.`
    : `Run as root (or a member of group himds): the agent's key files in ${context.tokenDirectory} are readable only by them.`;
}

function serviceAdvice(context: DoctorContext): string {
  const start = context.platform.name === 'windows' ? 'Get-Service himds; Start-Service himds' : 'systemctl status himdsd; systemctl start himdsd';
  return `Check that the agent runs and is connected (${start}; azcmagent show reports "Connected"). If HIMDS is not at ${context.himdsUrl}, pass --himds.`;
}

export const himdsCheck: DoctorCheck = {
  id: 'himds',
  title: 'HIMDS and token',
  async run(context) {
    try {
      const probe = await context.probeHimds();
      const where = `machine ${probe.machineName || '(no name)'} in resource group ${probe.resourceGroup || '(none)'}, ${probe.location || '(no location)'}`;
      if (probe.tokenObtained) {
        return { outcome: 'pass', detail: `${context.himdsUrl}: ${where}; a token for ${ENTRA_DEVICE_REGISTRATION_RESOURCE} was obtained (not shown).` };
      }
      return {
        outcome: 'fail',
        detail: asSentence(`${context.himdsUrl}: ${where}, but no token for ${ENTRA_DEVICE_REGISTRATION_RESOURCE}${probe.tokenFailure ? ` (${probe.tokenFailure})` : ''}`),
        fix: `${keyFileAdvice(context)} Check that the Arc machine has its system-assigned identity (azcmagent show).`,
      };
    } catch (error) {
      if (!(error instanceof HimdsProbeError)) throw error;
      const detail = asSentence(`${context.himdsUrl}: ${error.message}`);
      switch (error.stage) {
        case 'proxy':
          return { outcome: 'fail', detail, fix: 'Run `himdsproxy serve --listen 127.0.0.1:0` to see why the proxy cannot start.' };
        case 'unreachable':
          return { outcome: 'fail', detail, fix: serviceAdvice(context) };
        case 'metadata':
          return { outcome: 'fail', detail, fix: `${serviceAdvice(context)} ${keyFileAdvice(context)}` };
      }
    }
  },
};
