// Step 1 of join: a verified, extracted handler package in Packages/Plugins/<name>/<version>/, reused on reruns.
import { copyFile, mkdir, rm, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { EXIT_CODES, HimdsproxyError } from '../../errors.js';
import type { Reporter } from '../../reporter.js';
import { handlerPaths, type HandlerPaths } from '../../work-folder.js';
import { checkPackageUrl, downloadToFile } from './download.js';
import { DEFAULT_EXTRACTION_LIMITS, extractZipSafely, type ExtractionLimits } from './extract.js';
import { readHandlerManifest, type HandlerManifest } from './manifest.js';
import {
  findPackageDamage,
  hashPackageFiles,
  isRuntimeEntry,
  readPackageRecord,
  writePackageRecord,
  type PackageRecord,
} from './package-state.js';
import { renameWithRetries } from '../../atomic-write.js';
import { clearLeftovers, stagingPath, swapInPackage } from './staging.js';
import { redactUrlText } from './url-policy.js';
import { parseExpectedSha256, sameSha256, sha256OfFile } from './verify.js';

export { parseHandlerManifest, type HandlerManifest } from './manifest.js';

export interface PackageSource {
  /** "<Publisher>.<Type>", e.g. DEFAULT_HANDLER.name */
  handlerName: string;
  /** e.g. "1.1.0.2" */
  version: string;
  /** Download from here… */
  url?: string;
  /** …or use this local zip (exactly one of url / zipPath). */
  zipPath?: string;
  /** Expected SHA-256 hex of the zip, when known. */
  sha256?: string;
}

export interface PreparedPackage {
  paths: HandlerPaths;
  manifest: HandlerManifest;
  zipSha256: string;
  /** True when a verified package from an earlier run was reused. */
  reused: boolean;
}

export interface PreparePackageOptions {
  /** Progress bar instead of plain lines; default: when standard error is a terminal. */
  showProgress?: boolean;
  /** Whole download, retries included; default 10 minutes. */
  downloadTimeoutMs?: number;
  /** Further download attempts on network errors and 5xx; default 3. */
  retries?: number;
  /** Pause before the first retry, doubling after; default 2 s. */
  retryDelayMs?: number;
  signal?: AbortSignal;
  extractionLimits?: ExtractionLimits;
}

const DEFAULT_DOWNLOAD_TIMEOUT_MS = 10 * 60_000;
const DEFAULT_RETRIES = 3;
const DEFAULT_RETRY_DELAY_MS = 2_000;
/** Names that become folder names: one plain segment, nothing a path could be built from. */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Makes the handler package ready to run. Reuses the package of an earlier run when its
 * record says every extracted file is unchanged (no download); otherwise obtains the zip
 * (download, or the kept zip, or `source.zipPath`), verifies it, extracts it into a fresh
 * folder, reads its manifest and only then swaps it in and records it.
 */
export async function preparePackage(
  workdir: string,
  source: PackageSource,
  reporter: Reporter,
  options: PreparePackageOptions = {},
): Promise<PreparedPackage> {
  checkSource(source);
  const expectedSha256 = source.sha256 === undefined ? undefined : parseExpectedSha256(source.sha256);
  const paths = handlerPaths(workdir, source.handlerName, source.version);
  await mkdir(dirname(paths.packageDirectory), { recursive: true });
  await clearLeftovers(paths, reporter);

  const localZip = source.zipPath === undefined ? undefined : await checkLocalZip(source.zipPath);
  const localZipSha256 = localZip === undefined ? undefined : await sha256OfFile(localZip);
  // A local zip is cheap to hash, so a rerun with a different zip is noticed even without --sha256.
  const wantedSha256 = expectedSha256 ?? localZipSha256;

  const record = await readPackageRecord(paths);
  if (record) {
    const damage = await findPackageDamage(paths, record, {
      handlerName: source.handlerName,
      version: source.version,
      ...(wantedSha256 === undefined ? {} : { zipSha256: wantedSha256 }),
    });
    if (damage === undefined) {
      const manifest = await readHandlerManifest(paths.packageDirectory);
      reporter.info(`Reusing the verified package in ${paths.packageDirectory}`);
      return { paths, manifest, zipSha256: record.zipSha256, reused: true };
    }
    reporter.warn(`The package in ${paths.packageDirectory} cannot be reused: ${damage}; replacing it`);
  }

  const temporaryFiles: string[] = [];
  try {
    let zipFile: string;
    let zipSha256: string;
    if (localZip !== undefined && localZipSha256 !== undefined) {
      zipFile = localZip;
      zipSha256 = localZipSha256;
    } else if (record && (await keptZipMatches(paths, record, expectedSha256))) {
      reporter.info(`Extracting again from the verified ${paths.packageZip}`);
      zipFile = paths.packageZip;
      zipSha256 = record.zipSha256;
    } else {
      zipFile = stagingPath(paths, 'download');
      temporaryFiles.push(zipFile);
      await downloadToFile(source.url!, zipFile, reporter, {
        timeoutMs: options.downloadTimeoutMs ?? DEFAULT_DOWNLOAD_TIMEOUT_MS,
        retries: options.retries ?? DEFAULT_RETRIES,
        retryDelayMs: options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS,
        showProgress: options.showProgress ?? process.stderr.isTTY === true,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      zipSha256 = await sha256OfFile(zipFile);
    }

    if (expectedSha256 !== undefined && !sameSha256(zipSha256, expectedSha256)) {
      throw new HimdsproxyError(
        `SHA-256 mismatch for ${describeZip(source)}: expected ${expectedSha256}, got ${zipSha256}`,
        EXIT_CODES.packageFailed,
        'The package is not the one --sha256 names: check the URL or zip and the checksum; nothing was extracted.',
      );
    }
    if (expectedSha256 === undefined) {
      reporter.warn(
        `The handler package could not be verified against a known checksum. Its SHA-256 is ${zipSha256}; ` +
          `pass --sha256 ${zipSha256} to pin it.`,
      );
    } else {
      reporter.info(`SHA-256 verified: ${zipSha256}`);
    }

    stopIfInterrupted(options.signal);
    const staged = stagingPath(paths, 'extracting');
    temporaryFiles.push(staged);
    const extractedFiles = await extractZipSafely(zipFile, staged, options.extractionLimits ?? DEFAULT_EXTRACTION_LIMITS);
    // Read the manifest before the swap: a package we cannot run must not replace one we can.
    const manifest = await readHandlerManifest(staged);
    const files = await hashPackageFiles(staged, extractedFiles.filter((file) => !isRuntimeEntry(paths, file)));
    stopIfInterrupted(options.signal);
    await swapInPackage(staged, paths).catch((error: unknown) => {
      throw new HimdsproxyError(
        `Cannot put the new package in place of ${paths.packageDirectory}: ${(error as Error).message}`,
        EXIT_CODES.packageFailed,
        'Stop any program running from that folder (a handler left over from an earlier run?) and run again.',
        { cause: error },
      );
    });

    if (zipFile !== paths.packageZip) await keepZip(zipFile, localZip !== undefined, paths, temporaryFiles);
    await writePackageRecord(paths, {
      formatVersion: 1,
      handlerName: source.handlerName,
      version: source.version,
      zipSha256,
      files,
      preparedAt: new Date().toISOString(),
    });
    reporter.info(`Extracted ${extractedFiles.length} files into ${paths.packageDirectory}`);
    return { paths, manifest, zipSha256, reused: false };
  } finally {
    for (const path of temporaryFiles) await rm(path, { recursive: true, force: true });
  }
}

function checkSource(source: PackageSource): void {
  for (const [field, value] of [['handler name', source.handlerName], ['handler version', source.version]] as const) {
    if (!SAFE_NAME.test(value) || value.includes('..')) {
      throw new HimdsproxyError(
        `The ${field} '${value}' cannot be used as a folder name`,
        EXIT_CODES.usage,
        'Use letters, digits, dots, dashes and underscores only, e.g. 1.1.0.2.',
      );
    }
  }
  if ((source.url === undefined) === (source.zipPath === undefined)) {
    throw new HimdsproxyError(
      'Give the handler package either as a URL or as a local zip, not both and not neither',
      EXIT_CODES.usage,
      'Pass exactly one of --handler-url and --handler-zip.',
    );
  }
  // Checked even when a recorded package will be reused, so a bad URL never goes unnoticed.
  if (source.url !== undefined) checkPackageUrl(source.url);
}

/** Between phases: the download watches the signal itself, extraction and swapping are short. */
function stopIfInterrupted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new HimdsproxyError('Preparing the handler package was interrupted', EXIT_CODES.interrupted);
}

async function checkLocalZip(zipPath: string): Promise<string> {
  const absolute = resolve(zipPath);
  let isFile = false;
  try {
    isFile = (await stat(absolute)).isFile();
  } catch {
    isFile = false;
  }
  if (!isFile) {
    throw new HimdsproxyError(`The handler zip ${absolute} does not exist or is not a file`, EXIT_CODES.packageFailed, 'Check the path given with --handler-zip.');
  }
  return absolute;
}

/** The zip kept by an earlier run can stand in for a download if it still is what was recorded. */
async function keptZipMatches(paths: HandlerPaths, record: PackageRecord, expectedSha256: string | undefined): Promise<boolean> {
  if (expectedSha256 !== undefined && !sameSha256(record.zipSha256, expectedSha256)) return false;
  try {
    return sameSha256(await sha256OfFile(paths.packageZip), record.zipSha256);
  } catch {
    return false;
  }
}

/** Keeps the verified zip beside the package: a download is moved there, a user's zip copied. */
async function keepZip(zipFile: string, isUsersZip: boolean, paths: HandlerPaths, temporaryFiles: string[]): Promise<void> {
  if (!isUsersZip) {
    await renameWithRetries(zipFile, paths.packageZip);
    return;
  }
  const copy = stagingPath(paths, 'download');
  temporaryFiles.push(copy);
  await copyFile(zipFile, copy);
  await renameWithRetries(copy, paths.packageZip);
}

/** The zip as the user named it, without a URL's query (it may hold a SAS token). */
function describeZip(source: PackageSource): string {
  return source.zipPath !== undefined ? resolve(source.zipPath) : redactUrlText(source.url ?? '');
}
