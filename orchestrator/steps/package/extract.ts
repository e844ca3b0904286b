// Safe extraction of a handler zip into a fresh folder: every entry is checked before any byte is written.
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32 } from 'node:zlib';
import yauzl from 'yauzl';
import { EXIT_CODES, HimdsproxyError } from '../../errors.js';
import { checkEntryName, collisionKey, entryKind, extractedFileMode } from './entry-rules.js';

export interface ExtractionLimits {
  maxEntries: number;
  /** Sum of the uncompressed sizes of all entries. */
  maxTotalBytes: number;
}

/** Far above any real handler (AADLoginForWindows is a few MiB), far below a zip bomb. */
export const DEFAULT_EXTRACTION_LIMITS: ExtractionLimits = {
  maxEntries: 10_000,
  maxTotalBytes: 1024 * 1024 * 1024,
};

interface PlannedEntry {
  entry: yauzl.Entry;
  relativePath: string;
  isDirectory: boolean;
}

/**
 * Extracts `zipPath` into `destination`, which must not exist yet, and returns the relative
 * paths ('/'-separated) of the files written. The whole central directory is checked first
 * (names, types, duplicates, count, total size), so a hostile archive writes nothing; a
 * failure later (corrupt data) removes the destination again.
 */
export async function extractZipSafely(
  zipPath: string,
  destination: string,
  limits: ExtractionLimits = DEFAULT_EXTRACTION_LIMITS,
): Promise<string[]> {
  const archiveName = basename(zipPath);
  let zip: yauzl.ZipFile;
  try {
    // decodeStrings: false so that names reach our own checks (and messages) undecided.
    zip = await yauzl.openPromise(zipPath, { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: true });
  } catch (error) {
    throw archiveError(`${archiveName} is not a readable zip archive: ${messageOf(error)}`, error);
  }
  let createdDestination = false;
  try {
    const planned = await planExtraction(zip, archiveName, limits);
    await mkdir(destination);
    createdDestination = true;
    const written: string[] = [];
    for (const item of planned) {
      const target = join(destination, ...item.relativePath.split('/'));
      // Belt and braces behind checkEntryName: nothing is ever written outside the destination.
      if (!resolve(target).startsWith(resolve(destination) + sep)) {
        throw archiveError(`Archive entry '${displayName(item.relativePath)}' would be written outside the package folder`);
      }
      if (item.isDirectory) {
        await mkdir(target, { recursive: true });
        continue;
      }
      await mkdir(dirname(target), { recursive: true });
      await writeEntry(zip, item, target, archiveName);
      written.push(item.relativePath);
    }
    return written;
  } catch (error) {
    if (createdDestination) await rm(destination, { recursive: true, force: true });
    throw error;
  } finally {
    zip.close();
  }
}

async function planExtraction(zip: yauzl.ZipFile, archiveName: string, limits: ExtractionLimits): Promise<PlannedEntry[]> {
  if (zip.entryCount > limits.maxEntries) {
    throw archiveError(`${archiveName} has ${zip.entryCount} entries; at most ${limits.maxEntries} are allowed`);
  }
  const planned: PlannedEntry[] = [];
  const fileKeys = new Set<string>();
  const directoryKeys = new Set<string>();
  let declaredTotalBytes = 0;
  try {
    for await (const entry of zip.eachEntry()) {
      const name = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, entry.extraFields, false);
      const shown = displayName(name);
      // A backslash in the raw name is how Windows tools write '\..\' traversals; yauzl has
      // already turned it into '/', so the checks below see it as the traversal it is.
      const verdict = checkEntryName(name);
      if (!verdict.ok) throw archiveError(`Archive entry '${shown}' ${verdict.reason}`);
      const kind = entryKind(entry.externalFileAttributes, verdict.isDirectory);
      if (kind === 'symbolic link' || kind === 'special file') {
        throw archiveError(`Archive entry '${shown}' is a ${kind}; only files and folders are allowed`);
      }
      const isDirectory = kind === 'directory';
      if (!isDirectory) {
        if (entry.isEncrypted()) throw archiveError(`Archive entry '${shown}' is encrypted`);
        if (!entry.canDecodeFileData()) {
          throw archiveError(`Archive entry '${shown}' uses unsupported compression method ${entry.compressionMethod}`);
        }
      }
      declaredTotalBytes += entry.uncompressedSize;
      if (declaredTotalBytes > limits.maxTotalBytes) {
        throw archiveError(`${archiveName} expands to more than ${formatMiB(limits.maxTotalBytes)}; refusing to extract it`);
      }
      const key = collisionKey(verdict.relativePath);
      const segments = key.split('/');
      for (let depth = 1; depth < segments.length; depth += 1) {
        const parent = segments.slice(0, depth).join('/');
        if (fileKeys.has(parent)) throw archiveError(`Archive entry '${shown}' is inside '${parent}', which is a file`);
        directoryKeys.add(parent);
      }
      if (isDirectory) {
        if (fileKeys.has(key)) throw archiveError(`Archive entry '${shown}' appears twice in ${archiveName}`);
        directoryKeys.add(key);
      } else {
        if (fileKeys.has(key) || directoryKeys.has(key)) {
          throw archiveError(`Archive entry '${shown}' appears twice in ${archiveName}`);
        }
        fileKeys.add(key);
      }
      planned.push({ entry, relativePath: verdict.relativePath, isDirectory });
    }
  } catch (error) {
    if (error instanceof HimdsproxyError) throw error;
    throw archiveError(`${archiveName} is not a valid zip archive: ${messageOf(error)}`, error);
  }
  return planned;
}

async function writeEntry(zip: yauzl.ZipFile, item: PlannedEntry, target: string, archiveName: string): Promise<void> {
  let checksum = 0;
  const crcCheck = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      checksum = crc32(chunk, checksum);
      callback(null, chunk);
    },
    flush(callback) {
      // yauzl checks sizes but not CRC-32; without a known SHA-256 this is the only
      // corruption check the archive gets.
      if (checksum >>> 0 !== item.entry.crc32 >>> 0) callback(new Error('CRC-32 mismatch'));
      else callback();
    },
  });
  try {
    const source = await zip.openReadStreamPromise(item.entry);
    await pipeline(source, crcCheck, createWriteStream(target, { flags: 'wx', mode: extractedFileMode(item.entry.externalFileAttributes) }));
  } catch (error) {
    throw archiveError(`Archive entry '${displayName(item.relativePath)}' in ${archiveName} is corrupt: ${messageOf(error)}`, error);
  }
}

function archiveError(message: string, cause?: unknown): HimdsproxyError {
  return new HimdsproxyError(
    message,
    EXIT_CODES.packageFailed,
    'Use the handler package as published by Microsoft; if it came from elsewhere, obtain a fresh copy and check its SHA-256.',
    cause === undefined ? undefined : { cause },
  );
}

/** Entry names come from the archive: keep control characters out of terminals and logs. */
function displayName(name: string): string {
  const printable = name.replace(/[\u0000-\u001f\u007f]/g, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return printable.length > 200 ? `${printable.slice(0, 200)}…` : printable;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function formatMiB(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}
