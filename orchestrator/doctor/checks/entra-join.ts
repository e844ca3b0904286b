// Check 7: is the machine already Microsoft Entra joined? (Then join exits 0 at once.)
import { asSentence, type DoctorCheck } from '../check.js';

export const entraJoinCheck: DoctorCheck = {
  id: 'entra-join',
  title: 'Entra join state',
  async run(context) {
    let state;
    try {
      state = await context.platform.entraJoinState();
    } catch (error) {
      // Only informative: a broken dsregcmd must not stop a join that would fix it.
      return {
        outcome: 'warn',
        detail: asSentence(`Could not read the join state: ${error instanceof Error ? error.message : String(error)}`),
        fix: 'Run `dsregcmd /status` yourself and look for AzureAdJoined in the Device State section.',
      };
    }
    if (state === undefined) return { outcome: 'info', detail: `Not applicable on ${context.platform.name}: no Entra device join here.` };
    if (!state.joined) return { outcome: 'info', detail: 'Not Entra joined yet (dsregcmd /status: AzureAdJoined : NO).' };
    const facts = [
      state.deviceId ? `DeviceId ${state.deviceId}` : undefined,
      state.tenantId ? `TenantId ${state.tenantId}` : undefined,
      state.tenantName ? `tenant ${state.tenantName}` : undefined,
    ].filter((fact) => fact !== undefined);
    return {
      outcome: 'info',
      detail: `Already Entra joined${facts.length > 0 ? ` (${facts.join(', ')})` : ''}: join exits 0 at once; --force runs it anyway.`,
    };
  },
};
