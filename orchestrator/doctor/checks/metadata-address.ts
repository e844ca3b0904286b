// Check 6: who already answers where join's proxy will listen (169.254.169.254:80 by default)?
import { asSentence, type DoctorCheck } from '../check.js';

export const metadataAddressCheck: DoctorCheck = {
  id: 'metadata-address',
  title: 'Metadata address',
  async run(context) {
    const { host, port } = context.listen;
    const address = `${host}:${port}`;
    if (port === 0) return { outcome: 'pass', detail: `${address}: port 0 picks a free port.` };
    const occupant = await context.probeMetadataAddress(host, port);
    switch (occupant.kind) {
      case 'free':
        return { outcome: 'pass', detail: `${address} is free.` };
      case 'azure-imds':
        return {
          outcome: 'fail',
          detail: `Azure IMDS answers at ${address}: this is an Azure VM, not an Arc-enabled server.`,
          fix: 'Install the AADLoginForWindows VM extension from Azure on this VM; it works natively there.',
        };
      case 'aws-imds':
        if (context.force) {
          return {
            outcome: 'warn',
            detail: `AWS EC2 IMDS answers at ${address}; with --force, join takes the address for the duration of the join and gives it back.`,
            fix: 'Avoid running other AWS software on this machine while join runs: its metadata calls reach himdsproxy instead.',
          };
        }
        return {
          outcome: 'fail',
          detail: `AWS EC2 IMDS answers at ${address}: the proxy would shadow it, and AWS software on this machine would reach himdsproxy instead.`,
          fix: 'Rerun with --force to take the address for the duration of the join only; it is given back afterwards.',
        };
      case 'himdsproxy':
        return {
          outcome: 'warn',
          detail: `A himdsproxy already answers at ${address}, probably left over from an earlier run.`,
          fix: 'join stops a stale proxy it started; otherwise stop the running `himdsproxy serve`.',
        };
      case 'other':
        return {
          outcome: 'fail',
          detail: asSentence(`Not free: ${occupant.detail}`),
          fix: occupant.server === 'microsoft-httpapi'
            // HTTP.sys (IIS, or any service using its URL reservations) listens on every address by default.
            ? `Windows HTTP.sys (IIS or another service using it) listens on every address on port ${port}. Limit it to this server's own addresses (netsh http add iplisten ipaddress=<server IP>; check with netsh http show iplisten), or stop the site bound to port ${port} for the join.`
            : `Find and stop it (Windows: Get-NetTCPConnection -LocalPort ${port} | Select OwningProcess; Linux: ss -ltnp), or choose another --listen.`,
        };
    }
  },
};
