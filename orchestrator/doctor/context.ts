// The world doctor checks look at, injected so every check can be tested with fakes.
import type { PlatformAdapter } from '../platform/types.js';

/** Who answers at an address:port (what probeMetadataAddress of steps/address-probe.ts finds). */
export type AddressOccupant =
  | { kind: 'free' }
  | { kind: 'azure-imds' }
  | { kind: 'aws-imds' }
  | { kind: 'himdsproxy' }
  | { kind: 'other'; detail: string };

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
}
