// The record that makes reruns safe: which zip was extracted, and the SHA-256 of every file it produced.
import { readFile, rm } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { writeFileAtomically } from '../../atomic-write.js';
import type { HandlerPaths } from '../../work-folder.js';
import { sameSha256, sha256OfFile } from './verify.js';

export interface PackageRecord {
  formatVersion: 1;
  handlerName: string;
  version: string;
  zipSha256: string;
  /** '/'-separated path inside the package folder → lower-case hex SHA-256. */
  files: Record<string, string>;
  preparedAt: string;
}

/** `Packages/Plugins/<name>/<version>.package.json`, beside the zip it describes. */
export function packageRecordFile(paths: HandlerPaths): string {
  return paths.packageZip.replace(/\.zip$/, '.package.json');
}

/**
 * Names inside the package folder that the orchestrator and the handler write at run time
 * (PROTOCOLS.md §3). They are never part of the record and survive a package replacement,
 * so the settings sequence carries on across reruns.
 */
export function runtimeEntryNames(paths: HandlerPaths): string[] {
  return [paths.handlerEnvironmentFile, paths.runtimeSettingsDirectory, paths.statusDirectory, paths.heartbeatFile].map(
    (path) => relative(paths.packageDirectory, path),
  );
}

export function isRuntimeEntry(paths: HandlerPaths, relativePath: string): boolean {
  const firstSegment = relativePath.split('/')[0]?.toLowerCase();
  return runtimeEntryNames(paths).some((name) => name.toLowerCase() === firstSegment);
}

/** The record, or undefined when it is missing or not one we wrote (then the package is replaced). */
export async function readPackageRecord(paths: HandlerPaths): Promise<PackageRecord | undefined> {
  let text: string;
  try {
    text = await readFile(packageRecordFile(paths), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const value = JSON.parse(text) as unknown;
    return isPackageRecord(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

export async function writePackageRecord(paths: HandlerPaths, record: PackageRecord): Promise<void> {
  await writeFileAtomically(packageRecordFile(paths), `${JSON.stringify(record, null, 2)}\n`);
}

export async function removePackageRecord(paths: HandlerPaths): Promise<void> {
  await rm(packageRecordFile(paths), { force: true });
}

export async function hashPackageFiles(directory: string, relativePaths: readonly string[]): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const relativePath of relativePaths) {
    files[relativePath] = await sha256OfFile(join(directory, ...relativePath.split('/')));
  }
  return files;
}

/**
 * Why the recorded package cannot be reused, or undefined when every recorded file is
 * present with the recorded content and the record matches what this run asks for.
 */
export async function findPackageDamage(
  paths: HandlerPaths,
  record: PackageRecord,
  wanted: { handlerName: string; version: string; zipSha256?: string },
): Promise<string | undefined> {
  if (record.handlerName !== wanted.handlerName || record.version !== wanted.version) {
    return `its record describes ${record.handlerName} ${record.version}`;
  }
  if (wanted.zipSha256 !== undefined && !sameSha256(record.zipSha256, wanted.zipSha256)) {
    return `it was extracted from a zip with SHA-256 ${record.zipSha256}, not ${wanted.zipSha256}`;
  }
  const root = resolve(paths.packageDirectory);
  for (const [relativePath, expected] of Object.entries(record.files)) {
    const file = resolve(root, ...relativePath.split('/'));
    // The record lives in the work folder; still, never let it point us outside the package.
    if (!file.startsWith(root + sep)) return `its record names a file outside the package: ${relativePath}`;
    let actual: string;
    try {
      actual = await sha256OfFile(file);
    } catch {
      return `${relativePath} is missing`;
    }
    if (!sameSha256(actual, expected)) return `${relativePath} has changed since it was extracted`;
  }
  return undefined;
}

function isPackageRecord(value: unknown): value is PackageRecord {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  if (record.formatVersion !== 1) return false;
  if (typeof record.handlerName !== 'string' || typeof record.version !== 'string') return false;
  if (typeof record.zipSha256 !== 'string' || !/^[0-9a-f]{64}$/i.test(record.zipSha256)) return false;
  if (typeof record.files !== 'object' || record.files === null || Array.isArray(record.files)) return false;
  const files = Object.values(record.files as Record<string, unknown>);
  return files.length > 0 && files.every((hash) => typeof hash === 'string' && /^[0-9a-f]{64}$/i.test(hash));
}
