// Picks the platform adapter for the operating system himdsproxy runs on.
import { EXIT_CODES, HimdsproxyError } from '../errors.js';
import { execaCommandRunner } from './command-runner.js';
import { createLinuxAdapter } from './linux.js';
import type { CommandRunner, PlatformAdapter } from './types.js';
import { createWindowsAdapter } from './windows.js';

export function createPlatformAdapter(
  platform: NodeJS.Platform = process.platform,
  runner: CommandRunner = execaCommandRunner,
): PlatformAdapter {
  if (platform === 'win32') return createWindowsAdapter(runner);
  if (platform === 'linux') return createLinuxAdapter(runner);
  throw new HimdsproxyError(
    `Unsupported operating system: ${platform}. himdsproxy can change addresses and check the join state only on Windows and Linux.`,
    EXIT_CODES.preflightFailed,
    'Run himdsproxy on the Windows Server you want to join (or on Linux for tests and `serve`).',
  );
}
