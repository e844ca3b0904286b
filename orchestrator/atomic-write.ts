// Replacing files and folders so readers see either the old or the new content, never half of it.
import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Windows refuses a rename while another process holds the target open; such locks are brief. */
const RENAME_RETRY_CODES = new Set(['EPERM', 'EACCES', 'EBUSY']);
const RENAME_ATTEMPTS = 6;

/**
 * Writes `text` as UTF-8 without BOM to a temporary file beside `file` and renames it into
 * place. The temporary name ends in `.tmp` so tools scanning for `*.settings` or `*.status`
 * never pick it up.
 */
export async function writeFileAtomically(file: string, text: string): Promise<void> {
  const temporaryFile = join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(temporaryFile, text, { encoding: 'utf8', flag: 'wx' });
    await renameWithRetries(temporaryFile, file);
  } catch (error) {
    await rm(temporaryFile, { force: true });
    throw error;
  }
}

/** rename(), retried briefly while Windows holds the source or target open (antivirus, indexers). */
export async function renameWithRetries(from: string, to: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await rename(from, to);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (attempt >= RENAME_ATTEMPTS || code === undefined || !RENAME_RETRY_CODES.has(code)) throw error;
      await sleep(50 * attempt);
    }
  }
}
