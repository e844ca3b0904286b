// Shared set-up for the emulator's own tests: a fresh emulator in a fresh temp dir, and a tiny GET helper.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HimdsEmulator, type HimdsEmulatorOptions } from '../support/himds-emulator.js';

export interface EmulatorFixture {
  emulator: HimdsEmulator;
  scratchDirectory: string;
  dispose(): Promise<void>;
}

export async function startEmulatorInTempDir(options: Partial<HimdsEmulatorOptions> = {}): Promise<EmulatorFixture> {
  const scratchDirectory = await mkdtemp(join(tmpdir(), 'himds-emulator-test-'));
  let emulator: HimdsEmulator;
  try {
    emulator = await HimdsEmulator.start({ tokenDirectory: join(scratchDirectory, 'tokens'), ...options });
  } catch (error) {
    await rm(scratchDirectory, { recursive: true, force: true });
    throw error;
  }
  return {
    emulator,
    scratchDirectory,
    async dispose() {
      await emulator.stop();
      await rm(scratchDirectory, { recursive: true, force: true });
    },
  };
}

export interface SimpleResponse {
  status: number;
  headers: Headers;
  text: string;
}

/** GET with `Metadata: true` unless the caller overrides headers. */
export async function get(baseUrl: string, pathAndQuery: string, headers: Record<string, string> = { Metadata: 'true' }, method = 'GET'): Promise<SimpleResponse> {
  const response = await fetch(`${baseUrl}${pathAndQuery}`, { method, headers });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

export const TOKEN_PATH = '/metadata/identity/oauth2/token?api-version=2020-06-01&resource=https%3A%2F%2Fmanagement.azure.com';

/** The realm path named in a `Basic realm=<path>` challenge. */
export function realmOf(response: SimpleResponse): string {
  const header = response.headers.get('www-authenticate') ?? '';
  const prefix = 'Basic realm=';
  if (!header.startsWith(prefix)) throw new Error(`Expected a Basic realm challenge, got status ${response.status}`);
  return header.slice(prefix.length);
}
