// Step "configure": writes HandlerEnvironment.json and the next RuntimeSettings/<n>.settings for the handler.
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomically } from '../atomic-write.js';
import { EXIT_CODES, HimdsproxyError } from '../errors.js';
import { buildHandlerEnvironment, buildRuntimeSettings, nextSequenceNumberAfter } from '../handler-files.js';
import type { Reporter } from '../reporter.js';
import type { HandlerPaths } from '../work-folder.js';

export interface ConfiguredHandler {
  /** The sequence number this run uses; the handler learns it as ConfigSequenceNumber. */
  sequenceNumber: number;
  settingsFile: string;
}

/**
 * One above the highest number among RuntimeSettings/*.settings and Status/*.status, so the
 * new settings file is at once the newest, the highest, and has no stale status beside it.
 */
export async function nextSequenceNumber(paths: HandlerPaths): Promise<number> {
  const names = [
    ...(await fileNamesIn(paths.runtimeSettingsDirectory)),
    ...(await fileNamesIn(paths.statusDirectory)),
  ];
  return nextSequenceNumberAfter(names);
}

export async function configureHandler(
  paths: HandlerPaths,
  handlerName: string,
  publicSettings: { mdmId: string },
  reporter: Reporter,
): Promise<ConfiguredHandler> {
  try {
    for (const directory of [
      paths.runtimeSettingsDirectory,
      paths.statusDirectory,
      paths.handlerLogDirectory,
      paths.eventsDirectory,
    ]) {
      await mkdir(directory, { recursive: true });
    }
    await writeFileAtomically(paths.handlerEnvironmentFile, buildHandlerEnvironment(handlerName, paths));
    reporter.debug(`Wrote ${paths.handlerEnvironmentFile}`);

    const sequenceNumber = await nextSequenceNumber(paths);
    const settingsFile = join(paths.runtimeSettingsDirectory, `${sequenceNumber}.settings`);
    await writeFileAtomically(settingsFile, buildRuntimeSettings(publicSettings));
    reporter.info(`Wrote handler settings, sequence number ${sequenceNumber}: ${settingsFile}`);
    return { sequenceNumber, settingsFile };
  } catch (error) {
    if (error instanceof HimdsproxyError) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new HimdsproxyError(
      `Could not write the handler configuration in ${paths.packageDirectory} (${code}): ${(error as Error).message}`,
      EXIT_CODES.internal,
      'Check that the work folder is writable by this user (run as Administrator) and has free space.',
      { cause: error },
    );
  }
}

async function fileNamesIn(directory: string): Promise<string[]> {
  try {
    return await readdir(directory);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}
