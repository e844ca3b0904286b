// Temporary names beside the package, cleaning up a crashed run's leftovers, and swapping a new package in.
import { randomBytes } from 'node:crypto';
import { cp, readdir, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { renameWithRetries } from '../../atomic-write.js';
import type { Reporter } from '../../reporter.js';
import type { HandlerPaths } from '../../work-folder.js';
import { removePackageRecord, runtimeEntryNames } from './package-state.js';

// Keep in step with isLeftoverOf.
const DOWNLOAD_SUFFIX = '.download';
const EXTRACTING_SUFFIX = '.extracting';
const REPLACED_SUFFIX = '.replaced';

export type StagingKind = 'download' | 'extracting';

/**
 * A fresh name in the plugins folder (same volume as the package, so renames are atomic),
 * recognisable as temporary by the next run: `<version>.zip.<random>.download`,
 * `<version>.<random>.extracting`.
 */
export function stagingPath(paths: HandlerPaths, kind: StagingKind): string {
  const random = randomBytes(4).toString('hex');
  const version = basename(paths.packageDirectory);
  const name = kind === 'download' ? `${version}.zip.${random}${DOWNLOAD_SUFFIX}` : `${version}.${random}${EXTRACTING_SUFFIX}`;
  return join(dirname(paths.packageDirectory), name);
}

/**
 * Removes what a crashed run left behind for this version. One leftover is precious: if a
 * run died between moving the old package aside and moving the new one in, the old folder
 * (with its settings sequence) is put back; it is then checked like any other.
 */
export async function clearLeftovers(paths: HandlerPaths, reporter: Reporter): Promise<void> {
  const pluginsDirectory = dirname(paths.packageDirectory);
  const version = basename(paths.packageDirectory);
  const leftovers = (await readdir(pluginsDirectory)).filter((name) => isLeftoverOf(version, name));
  const replaced = leftovers.filter((name) => name.endsWith(REPLACED_SUFFIX));
  if (replaced.length > 0 && !(await exists(paths.packageDirectory))) {
    const newest = await newestOf(pluginsDirectory, replaced);
    reporter.warn(`Restoring ${paths.packageDirectory} from ${newest}, left behind by an interrupted run`);
    await renameWithRetries(join(pluginsDirectory, newest), paths.packageDirectory);
    leftovers.splice(leftovers.indexOf(newest), 1);
  }
  for (const name of leftovers) {
    reporter.info(`Removing ${name}, left behind by an interrupted run`);
    await rm(join(pluginsDirectory, name), { recursive: true, force: true });
  }
}

/**
 * Puts the extracted folder `staged` in place of the package folder. The record goes first
 * (a package without a record is never reused); runtime files are copied over so the
 * settings sequence survives; the old folder is moved aside, not deleted, until the new
 * one is in place.
 */
export async function swapInPackage(staged: string, paths: HandlerPaths): Promise<void> {
  await removePackageRecord(paths);
  const hadPackage = await exists(paths.packageDirectory);
  let aside: string | undefined;
  if (hadPackage) {
    for (const name of runtimeEntryNames(paths)) {
      const source = join(paths.packageDirectory, name);
      if (await exists(source)) await cp(source, join(staged, name), { recursive: true, force: true, errorOnExist: false });
    }
    aside = join(dirname(paths.packageDirectory), `${basename(paths.packageDirectory)}.${randomBytes(4).toString('hex')}${REPLACED_SUFFIX}`);
    await renameWithRetries(paths.packageDirectory, aside);
  }
  await renameWithRetries(staged, paths.packageDirectory);
  if (aside) await rm(aside, { recursive: true, force: true });
}


/** Exactly the names stagingPath and swapInPackage make for this version (not for "1.1.0.2.5"). */
function isLeftoverOf(version: string, name: string): boolean {
  if (!name.startsWith(`${version}.`)) return false;
  const rest = name.slice(version.length + 1);
  return /^(zip\.[0-9a-f]{8}\.download|[0-9a-f]{8}\.extracting|[0-9a-f]{8}\.replaced)$/.test(rest);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function newestOf(directory: string, names: readonly string[]): Promise<string> {
  const withTimes = await Promise.all(names.map(async (name) => ({ name, time: (await stat(join(directory, name))).mtimeMs })));
  withTimes.sort((a, b) => b.time - a.time);
  return withTimes[0]!.name;
}
