// A DoctorContext where every outside fact is a plain value a test can change.
import { tmpdir } from 'node:os';
import type { DoctorContext } from '../../../orchestrator/doctor/context.js';
import type { EntraJoinState, OperatingSystemInfo, PlatformAdapter } from '../../../orchestrator/platform/types.js';

export interface FakePlatformFacts {
  name: 'windows' | 'linux';
  elevated: boolean | Error;
  joinState: EntraJoinState | undefined | Error;
  operatingSystem: OperatingSystemInfo;
}

export const WINDOWS_SERVER_2022: OperatingSystemInfo = {
  platform: 'win32',
  productName: 'Windows Server 2022 Datacenter',
  version: '10.0.20348',
  build: 20348,
  isWindowsServer: true,
};

export function fakePlatform(facts: Partial<FakePlatformFacts> = {}): PlatformAdapter {
  const all: FakePlatformFacts = { name: 'windows', elevated: true, joinState: { joined: false }, operatingSystem: WINDOWS_SERVER_2022, ...facts };
  const answer = async <T>(value: T | Error): Promise<T> => {
    if (value instanceof Error) throw value;
    return value;
  };
  return {
    name: all.name,
    hasLoopbackAddress: async () => { throw new Error('doctor must not look at addresses through the adapter'); },
    addLoopbackAddress: async () => { throw new Error('doctor must change nothing'); },
    removeLoopbackAddress: async () => { throw new Error('doctor must change nothing'); },
    isElevated: () => answer(all.elevated),
    entraJoinState: () => answer(all.joinState),
    operatingSystem: () => answer(all.operatingSystem),
  };
}

/** A machine where every check passes (or is info), with nothing touching the network. */
export function fakeContext(overrides: Partial<DoctorContext> = {}): DoctorContext {
  return {
    platform: fakePlatform(),
    processList: async () => [{ pid: 4242, name: 'himds.exe' }],
    env: { IMDS_ENDPOINT: 'http://localhost:40342', IDENTITY_ENDPOINT: 'http://localhost:40342/metadata/identity/oauth2/token' },
    nodeVersion: '20.19.2',
    requiredNodeRange: '>=20.19',
    himdsUrl: 'http://localhost:40342',
    tokenDirectory: 'C:\\ProgramData\\AzureConnectedMachineAgent\\Tokens',
    probeHimds: async () => ({ machineName: 'arc-srv-01', resourceGroup: 'rg-arc', location: 'westeurope', tokenObtained: true }),
    probeMetadataAddress: async () => ({ kind: 'free' }),
    listen: { host: '169.254.169.254', port: 80 },
    resolveHost: async () => ['192.0.2.10'],
    canConnect: async () => true,
    workdir: tmpdir(),
    freeBytes: async () => 10 * 1024 ** 3,
    force: false,
    ...overrides,
  };
}
