// Check 9: the work folder (or the folder join will create it in) is writable and has room.
import { randomBytes } from 'node:crypto';
import { stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { DoctorCheck } from '../check.js';

/** The handler package, its extracted copy and the logs of many runs fit easily. */
export const MINIMUM_FREE_BYTES = 100 * 1024 * 1024;

/** The work folder itself, or its nearest ancestor that exists (join creates the rest). */
async function nearestExistingDirectory(path: string): Promise<{ directory: string } | { notDirectory: string }> {
  let candidate = path;
  for (;;) {
    try {
      const info = await stat(candidate);
      return info.isDirectory() ? { directory: candidate } : { notDirectory: candidate };
    } catch (error) {
      const parent = dirname(candidate);
      const code = (error as NodeJS.ErrnoException).code;
      // ENOTDIR: a file further up; the parent walk reaches it and reports it.
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || parent === candidate) throw error;
      candidate = parent;
    }
  }
}

/** Writes and removes a uniquely named file: doctor leaves nothing behind. */
async function writeProbe(directory: string): Promise<string | undefined> {
  const probe = join(directory, `.himdsproxy-doctor-${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(probe, '', { flag: 'wx' });
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? String(error);
  }
  await unlink(probe);
  return undefined;
}

function megabytes(bytes: number): string {
  return `${Math.floor(bytes / (1024 * 1024))} MiB`;
}

export const workFolderCheck: DoctorCheck = {
  id: 'work-folder',
  title: 'Work folder',
  async run(context) {
    const fix = 'Pass --workdir with a folder on a local disk that this account can write, with at least 100 MiB free.';
    const found = await nearestExistingDirectory(context.workdir);
    if ('notDirectory' in found) {
      return { outcome: 'fail', detail: `${found.notDirectory} is a file, so ${context.workdir} cannot be a folder.`, fix };
    }
    const { directory } = found;
    const where = directory === context.workdir ? context.workdir : `${directory} (join creates ${context.workdir})`;
    const writeError = await writeProbe(directory);
    if (writeError !== undefined) return { outcome: 'fail', detail: `${where} is not writable (${writeError}).`, fix };
    const free = await context.freeBytes(directory);
    if (free < MINIMUM_FREE_BYTES) {
      return { outcome: 'fail', detail: `${where} is writable but only ${megabytes(free)} free; join needs ${megabytes(MINIMUM_FREE_BYTES)}.`, fix };
    }
    return { outcome: 'pass', detail: `${where} is writable; ${megabytes(free)} free.` };
  },
};
