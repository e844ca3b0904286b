// Packs the fake AADLoginForWindows handler (test/support/fake-handler/) the way the real package is shipped.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, copyFile, mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import yazl from 'yazl';

export const FAKE_HANDLER_DIRECTORY = join(dirname(fileURLToPath(import.meta.url)), 'fake-handler');

/** Every file of the package, its path inside the zip (always with /) and its Unix mode. */
const FAKE_HANDLER_FILES = [
  { path: 'HandlerManifest.json', mode: 0o100644 },
  { path: 'bin/fake-handler', mode: 0o100755 },
  { path: 'bin/fake-handler.mjs', mode: 0o100644 },
] as const;

/** A fixed time, so the same sources always give the same zip and the same SHA-256. */
const FIXED_MTIME = new Date('2024-01-01T00:00:00Z');

/**
 * Writes the fake handler package to `destinationFile` (entries at the zip root like the real
 * one, bin/fake-handler executable) and returns the zip's SHA-256 in lower-case hex.
 */
export async function buildFakeHandlerZip(destinationFile: string): Promise<{ sha256: string }> {
  const zip = new yazl.ZipFile();
  for (const file of FAKE_HANDLER_FILES) {
    zip.addBuffer(await readFile(join(FAKE_HANDLER_DIRECTORY, file.path)), file.path, { mtime: FIXED_MTIME, mode: file.mode });
  }
  zip.end();
  await mkdir(dirname(destinationFile), { recursive: true });
  await pipeline(zip.outputStream, createWriteStream(destinationFile));
  const sha256 = createHash('sha256').update(await readFile(destinationFile)).digest('hex');
  return { sha256 };
}

/** Copies the fake handler into an (extracted) package folder, for tests that skip the zip. */
export async function copyFakeHandlerTo(packageDirectory: string): Promise<void> {
  for (const file of FAKE_HANDLER_FILES) {
    const destination = join(packageDirectory, file.path);
    await mkdir(dirname(destination), { recursive: true });
    await copyFile(join(FAKE_HANDLER_DIRECTORY, file.path), destination);
    await chmod(destination, file.mode & 0o777);
  }
}
