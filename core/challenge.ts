// The HIMDS key-file challenge: parse WWW-Authenticate, check the key path like the official clients, read the key safely.
import { constants as fsConstants } from 'node:fs';
import { lstat, open } from 'node:fs/promises';
import path from 'node:path';

/** The agent's key files are tiny; official clients refuse anything larger (PROTOCOLS.md §2). */
export const MAX_KEY_FILE_BYTES = 4096;

export type ChallengeFailureReason =
  | 'missing-challenge'
  | 'not-key-file'
  | 'relative-path'
  | 'outside-token-directory'
  | 'not-regular-file'
  | 'key-too-large'
  | 'key-unreadable'
  | 'key-malformed'
  | 'secret-rejected';

const DETAIL_BY_REASON: Record<ChallengeFailureReason, string> = {
  'missing-challenge': 'HIMDS answered 401 without a usable "WWW-Authenticate: Basic realm=<key file>" challenge',
  'not-key-file': 'HIMDS challenge key path does not name a .key file',
  'relative-path': 'HIMDS challenge key path is not an absolute path',
  'outside-token-directory': 'HIMDS challenge key path is outside the token directory',
  'not-regular-file': 'HIMDS challenge key file is not a regular file (symbolic link or other)',
  'key-too-large': `HIMDS challenge key file is larger than ${MAX_KEY_FILE_BYTES} bytes`,
  'key-unreadable': 'HIMDS challenge key file cannot be read (run the proxy as Administrator/root or a member of the agent\'s group)',
  'key-malformed': 'HIMDS challenge key file holds characters that cannot be sent in an HTTP header',
  'secret-rejected': 'HIMDS rejected the answer to its own challenge (second 401)',
};

/** A challenge the proxy refuses to answer. `message` never holds the key's content. */
export class ChallengeError extends Error {
  override readonly name = 'ChallengeError';
  constructor(
    readonly reason: ChallengeFailureReason,
    options?: { cause?: unknown },
  ) {
    super(DETAIL_BY_REASON[reason], options);
  }
}

export function isChallengeError(error: unknown): error is ChallengeError {
  return error instanceof ChallengeError;
}

/** The key path from `Basic realm=<path>` (unquoted as HIMDS sends it; quotes tolerated). */
export function parseChallengeRealm(wwwAuthenticate: string | null | undefined): string {
  const match = /^\s*Basic\s+realm=(.*)$/i.exec(wwwAuthenticate ?? '');
  let realm = match?.[1]?.trim() ?? '';
  if (realm.length >= 2 && realm.startsWith('"') && realm.endsWith('"')) realm = realm.slice(1, -1);
  if (realm === '') throw new ChallengeError('missing-challenge');
  return realm;
}

/**
 * Checks a realm path as msal-node and azure-identity do before reading it: a .key file
 * directly inside the token directory. Returns the normalised path to read.
 */
export function validateKeyPath(realm: string, tokenDirectory: string, platform: NodeJS.Platform = process.platform): string {
  const pathApi = platform === 'win32' ? path.win32 : path.posix;
  // Control characters never occur in a real key path; NUL would even truncate it.
  if (/[\u0000-\u001f]/.test(realm)) throw new ChallengeError('outside-token-directory');
  if (!pathApi.isAbsolute(realm)) throw new ChallengeError('relative-path');
  const fileName = pathApi.basename(realm);
  const sameCase = (text: string) => (platform === 'win32' ? text.toLowerCase() : text);
  if (!sameCase(fileName).endsWith('.key') || fileName.length <= '.key'.length) throw new ChallengeError('not-key-file');
  // Traversal is refused outright rather than resolved away: no real agent sends it.
  const separators = platform === 'win32' ? /[\\/]/ : /\//;
  if (realm.split(separators).some((segment) => segment === '..' || segment === '.')) {
    throw new ChallengeError('outside-token-directory');
  }
  const resolved = pathApi.resolve(realm);
  const directory = pathApi.resolve(tokenDirectory);
  if (sameCase(pathApi.dirname(resolved)) !== sameCase(directory)) throw new ChallengeError('outside-token-directory');
  return resolved;
}

/**
 * Reads a validated key file: refuses symbolic links and anything not a regular file, and
 * reads at most MAX_KEY_FILE_BYTES (+1 to notice a larger file) so a hostile path cannot make
 * the proxy read much.
 */
export async function readChallengeKey(keyPath: string): Promise<string> {
  let linkStatus;
  try {
    linkStatus = await lstat(keyPath);
  } catch (error) {
    throw new ChallengeError('key-unreadable', { cause: error });
  }
  if (!linkStatus.isFile()) throw new ChallengeError('not-regular-file');
  if (linkStatus.size > MAX_KEY_FILE_BYTES) throw new ChallengeError('key-too-large');

  // O_NOFOLLOW closes the race between lstat and open where the file is swapped for a link.
  const flags = fsConstants.O_RDONLY | (process.platform === 'win32' ? 0 : fsConstants.O_NOFOLLOW);
  let handle;
  try {
    handle = await open(keyPath, flags);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    throw new ChallengeError(code === 'ELOOP' ? 'not-regular-file' : 'key-unreadable', { cause: error });
  }
  try {
    const openedStatus = await handle.stat();
    if (!openedStatus.isFile()) throw new ChallengeError('not-regular-file');
    const buffer = Buffer.alloc(MAX_KEY_FILE_BYTES + 1);
    let filled = 0;
    while (filled < buffer.length) {
      const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    if (filled > MAX_KEY_FILE_BYTES) throw new ChallengeError('key-too-large');
    const secret = buffer.subarray(0, filled).toString('utf8');
    // Checked here because fetch would otherwise reject the header with the secret in its message.
    if (!/^[\x21-\x7e]+$/.test(secret)) throw new ChallengeError('key-malformed');
    return secret;
  } finally {
    await handle.close();
  }
}
