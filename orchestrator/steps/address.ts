// Join step 3: make the listen address answer locally, after checking nobody else answers there; give it back after.
import { EXIT_CODES, HimdsproxyError } from '../errors.js';
import { isLoopbackHost } from '../../core/contract.js';
import { isIpv4Address } from '../platform/ip-address.js';
import type { PlatformAdapter } from '../platform/types.js';
import type { Reporter } from '../reporter.js';
import { probeMetadataAddress, type AddressOccupant } from './address-probe.js';

export interface AddressClaim {
  host: string;
  /** True only when this run put the address on an interface, and so must take it off again. */
  addedByThisRun: boolean;
  /** Removes the address if this run added it; safe to call more than once. */
  release(): Promise<void>;
}

export interface ClaimOptions {
  /** Take the address even though AWS EC2 IMDS answers there (it is given back at the end). */
  force?: boolean;
  probe?: typeof probeMetadataAddress;
}

function refuseOccupant(occupant: AddressOccupant, url: string, force: boolean, reporter: Reporter): void {
  switch (occupant.kind) {
    case 'free':
      return;
    case 'azure-imds':
      throw new HimdsproxyError(
        `Azure IMDS already answers at ${url}: this is an Azure VM`,
        EXIT_CODES.preflightFailed,
        'This is an Azure VM: use the AADLoginForWindows VM extension instead (az vm extension set --name AADLoginForWindows).',
      );
    case 'aws-imds':
      if (force) {
        reporter.warn(`AWS EC2 IMDS answers at ${url}; --force: shadowing it on this machine until the join ends`);
        return;
      }
      throw new HimdsproxyError(
        `AWS EC2 IMDS answers at ${url}: adding the address locally would hide it from this machine's AWS software during the join`,
        EXIT_CODES.preflightFailed,
        'Rerun with --force to take the address for the duration of the join; it is given back afterwards.',
      );
    case 'himdsproxy':
      throw new HimdsproxyError(
        `A himdsproxy is already serving at ${url} (stale run?)`,
        EXIT_CODES.preflightFailed,
        'Stop that himdsproxy (or the `himdsproxy serve` you started), then rerun.',
      );
    case 'other':
      throw new HimdsproxyError(
        `The metadata address is taken: ${occupant.detail}`,
        EXIT_CODES.preflightFailed,
        `Stop whatever serves ${url}, then rerun.`,
      );
  }
}

export async function claimMetadataAddress(
  listen: { host: string; port: number },
  platform: PlatformAdapter,
  reporter: Reporter,
  options: ClaimOptions = {},
): Promise<AddressClaim> {
  const { host, port } = listen;
  if (isLoopbackHost(host)) {
    reporter.info(`Listening on loopback ${host}: no address to add`);
    return { host, addedByThisRun: false, release: async () => undefined };
  }
  if (!isIpv4Address(host) || host === '0.0.0.0') {
    throw new HimdsproxyError(
      `Cannot put ${JSON.stringify(host)} on the loopback interface: expected a single IPv4 address such as 169.254.169.254 (or a loopback host)`,
      EXIT_CODES.usage,
      'Use --listen 169.254.169.254:80 (the default), or a loopback address for tests.',
    );
  }

  const url = `http://${host}:${port}`;
  const occupant = await (options.probe ?? probeMetadataAddress)(host, port);
  reporter.debug(`Probe of ${url}: ${occupant.kind}${occupant.kind === 'other' ? ` (${occupant.detail})` : ''}`);
  refuseOccupant(occupant, url, options.force ?? false, reporter);

  if (await platform.hasLoopbackAddress(host)) {
    reporter.info(`${host} is already on an interface: using it and leaving it in place afterwards`);
    return {
      host,
      addedByThisRun: false,
      release: async () => reporter.debug(`${host} was there before this run: left in place`),
    };
  }

  await platform.addLoopbackAddress(host);
  if (!(await platform.hasLoopbackAddress(host))) {
    throw new HimdsproxyError(
      `Added ${host} to the loopback interface, but it is not there afterwards`,
      EXIT_CODES.preflightFailed,
      `Check that nothing (a network agent, a firewall policy) removes addresses, then rerun; see the address with Get-NetIPAddress -IPAddress ${host} (Windows) or ip address show (Linux).`,
    );
  }
  reporter.info(`Added ${host}/32 to the loopback interface for this run`);

  let releasing: Promise<void> | undefined;
  const release = (): Promise<void> => {
    releasing ??= (async () => {
      try {
        await platform.removeLoopbackAddress(host);
        reporter.info(`Removed ${host} from the loopback interface`);
      } catch (error) {
        // Let a later call retry: teardown may run again (Ctrl+C after a failed removal).
        releasing = undefined;
        throw error;
      }
    })();
    return releasing;
  };
  return { host, addedByThisRun: true, release };
}
