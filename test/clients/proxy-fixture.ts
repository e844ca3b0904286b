// One emulator plus one in-process proxy in a fresh temp dir, for the client tests through the proxy.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProxyServer, type RunningProxy } from '../../core/server.js';
import { HimdsEmulator, type HimdsEmulatorOptions } from '../support/himds-emulator.js';

/** An agent that refuses every IMDS-era version dsregcmd and msal-node's IMDS source send. */
export const MODERN_ONLY_API_VERSIONS = ['2021-02-01', '2020-06-01', '2019-11-01'];

export interface ProxiedEmulator {
  emulator: HimdsEmulator;
  proxy: RunningProxy;
  accessLogFile: string;
  readAccessLog(): Promise<string>;
  dispose(): Promise<void>;
}

export async function startProxiedEmulator(options: Partial<HimdsEmulatorOptions> = {}): Promise<ProxiedEmulator> {
  const scratchDirectory = await mkdtemp(join(tmpdir(), 'himdsproxy-clients-'));
  const emulator = await HimdsEmulator.start({
    tokenDirectory: join(scratchDirectory, 'tokens'),
    supportedApiVersions: MODERN_ONLY_API_VERSIONS,
    ...options,
  });
  const accessLogFile = join(scratchDirectory, 'access.log');
  let proxy: RunningProxy;
  try {
    proxy = await startProxyServer({
      listen: '127.0.0.1:0',
      himdsUrl: emulator.url,
      tokenDirectory: emulator.tokenDirectory,
      allowedResources: [],
      upstreamTimeoutMs: 5000,
      accessLogFile,
    });
  } catch (error) {
    await emulator.stop();
    await rm(scratchDirectory, { recursive: true, force: true });
    throw error;
  }
  return {
    emulator,
    proxy,
    accessLogFile,
    readAccessLog: () => readFile(accessLogFile, 'utf8').catch(() => ''),
    async dispose() {
      await proxy.close();
      await emulator.stop();
      await rm(scratchDirectory, { recursive: true, force: true });
    },
  };
}
