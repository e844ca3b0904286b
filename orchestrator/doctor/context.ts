// The world doctor checks look at: the interface (injected, so every check can be tested with fakes) and the real one.
import { statfs } from 'node:fs/promises';
import psList from 'ps-list';
import { parseListenAddress } from '../../core/contract.js';
import { EXIT_CODES, HimdsproxyError } from '../errors.js';
import type { PlatformAdapter } from '../platform/types.js';
import { MemoryReporter, type Reporter } from '../reporter.js';
import { probeMetadataAddress, type AddressOccupant } from '../steps/address-probe.js';
import { launchProxy } from '../steps/proxy.js';
import { probeHimdsThroughProxy } from './himds-probe.js';
import { canOpenTcpConnection, resolveHostAddresses } from './network-probes.js';
import { requiredNodeRange } from './package-engines.js';

export type { AddressOccupant } from '../steps/address-probe.js';

/** What check 5 learns from HIMDS through a short-lived proxy. Never holds the token itself. */
export interface HimdsProbeResult {
  machineName: string;
  resourceGroup: string;
  location: string;
  tokenObtained: boolean;
  /** Why no token came back (status and IMDS error text), when tokenObtained is false. */
  tokenFailure?: string;
}

export interface RunningProcess {
  pid: number;
  name: string;
  cmd?: string;
}

export interface DoctorContext {
  platform: PlatformAdapter;
  processList(): Promise<RunningProcess[]>;
  env: NodeJS.ProcessEnv;
  /** process.versions.node, e.g. "20.19.2" */
  nodeVersion: string;
  /** engines.node of package.json, e.g. ">=20.19" */
  requiredNodeRange: string;
  himdsUrl: string;
  tokenDirectory: string;
  /** Reads instance metadata and obtains a DRS token through a short-lived proxy on 127.0.0.1:0. */
  probeHimds(): Promise<HimdsProbeResult>;
  probeMetadataAddress(host: string, port: number): Promise<AddressOccupant>;
  /** Where join's proxy will listen (--listen). */
  listen: { host: string; port: number };
  /** Every address the name resolves to (dns.lookup with all: true). */
  resolveHost(host: string): Promise<string[]>;
  canConnect(host: string, port: number, timeoutMs: number): Promise<boolean>;
  workdir: string;
  /** Bytes available to this user on the file system holding path (fs.statfs). */
  freeBytes(path: string): Promise<number>;
  /** --force: take an address AWS IMDS answers on for the duration of the join. */
  force: boolean;
  /** --no-outbound-check: false skips check 8; absent means check. */
  checkOutbound?: boolean;
}

export interface DoctorContextOptions {
  platform: PlatformAdapter;
  workdir: string;
  /** HOST:PORT, as --listen. */
  listen: string;
  himdsUrl: string;
  tokenDirectory: string;
  force: boolean;
  /** false skips the Entra reachability test (behind an HTTP proxy, or on an offline test rig). */
  checkOutbound?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Gets the debug lines of the short-lived probe proxy (join's run log); dropped when absent. */
  reporter?: Reporter;
}

/** The real world: this machine's processes, network, file system and HIMDS. */
export function createDoctorContext(options: DoctorContextOptions): DoctorContext {
  const listen = parseListenAddress(options.listen);
  if (!listen) {
    throw new HimdsproxyError(`--listen must be HOST:PORT, got '${options.listen}'`, EXIT_CODES.usage, 'Pass e.g. --listen 169.254.169.254:80.');
  }
  const reporter = options.reporter ?? new MemoryReporter();
  return {
    platform: options.platform,
    processList: async () => (await psList()).map(({ pid, name, cmd }) => ({ pid, name, ...(cmd === undefined ? {} : { cmd }) })),
    env: options.env ?? process.env,
    nodeVersion: process.versions.node,
    requiredNodeRange: requiredNodeRange(),
    himdsUrl: options.himdsUrl,
    tokenDirectory: options.tokenDirectory,
    probeHimds: () =>
      probeHimdsThroughProxy((proxyOptions) => launchProxy(proxyOptions, reporter), {
        himdsUrl: options.himdsUrl,
        tokenDirectory: options.tokenDirectory,
      }),
    probeMetadataAddress: (host, port) => probeMetadataAddress(host, port),
    listen,
    resolveHost: resolveHostAddresses,
    canConnect: canOpenTcpConnection,
    workdir: options.workdir,
    freeBytes: async (path) => {
      const stats = await statfs(path);
      return stats.bavail * stats.bsize;
    },
    force: options.force,
    checkOutbound: options.checkOutbound ?? true,
  };
}
