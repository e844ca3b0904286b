// Pure rules deciding whether a zip entry may be extracted, and where it lands.

const UNIX_FILE_TYPE_MASK = 0o170000;
const UNIX_REGULAR_FILE = 0o100000;
const UNIX_DIRECTORY = 0o040000;
const UNIX_SYMBOLIC_LINK = 0o120000;

/** Windows turns these names into devices whatever their extension ("NUL.txt" is NUL). */
const WINDOWS_DEVICE_NAMES = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)(\..*)?$/i;
/** Characters Windows refuses in names; ':' would also open an NTFS alternate data stream. */
const WINDOWS_FORBIDDEN_CHARACTERS = /[<>:"|?*\u0000-\u001f]/;

export type EntryNameVerdict =
  | { ok: true; relativePath: string; isDirectory: boolean }
  | { ok: false; reason: string };

/**
 * Checks one entry name, as decoded with backslashes already turned into '/', and returns
 * the relative path it may be written to. Refuses anything that could land outside the
 * package folder or that Windows would interpret differently than Linux does, so a package
 * tested on one extracts the same on the other.
 */
export function checkEntryName(name: string): EntryNameVerdict {
  if (name.length === 0) return { ok: false, reason: 'has an empty name' };
  if (name.includes('\\')) return { ok: false, reason: 'contains a backslash' };
  if (name.startsWith('/') || /^[a-zA-Z]:/.test(name)) {
    return { ok: false, reason: 'is an absolute path' };
  }
  const isDirectory = name.endsWith('/');
  const segments = name.split('/').filter((segment) => segment !== '' && segment !== '.');
  if (segments.includes('..')) {
    return { ok: false, reason: 'would be written outside the package folder' };
  }
  if (segments.length === 0) return { ok: false, reason: 'names no file' };
  for (const segment of segments) {
    if (WINDOWS_FORBIDDEN_CHARACTERS.test(segment)) {
      return { ok: false, reason: 'contains a character Windows does not allow in file names' };
    }
    if (/[ .]$/.test(segment)) {
      return { ok: false, reason: 'has a name ending in a dot or space, which Windows silently strips' };
    }
    if (WINDOWS_DEVICE_NAMES.test(segment)) {
      return { ok: false, reason: 'uses a Windows device name' };
    }
  }
  return { ok: true, relativePath: segments.join('/'), isDirectory };
}

export type EntryKind = 'file' | 'directory' | 'symbolic link' | 'special file';

/**
 * What the entry is, from the unix mode zip tools store in the high 16 bits of the external
 * attributes. Zips made on Windows leave those bits zero: then the trailing '/' decides.
 */
export function entryKind(externalFileAttributes: number, nameIsDirectory: boolean): EntryKind {
  const fileType = (externalFileAttributes >>> 16) & UNIX_FILE_TYPE_MASK;
  if (fileType === UNIX_SYMBOLIC_LINK) return 'symbolic link';
  if (fileType === UNIX_DIRECTORY) return 'directory';
  if (fileType === 0 || fileType === UNIX_REGULAR_FILE) return nameIsDirectory ? 'directory' : 'file';
  return 'special file';
}

/** Keeps the unix execute bits, so shell-script handlers stay runnable; nothing else. */
export function extractedFileMode(externalFileAttributes: number): number {
  return 0o644 | ((externalFileAttributes >>> 16) & 0o111);
}

/**
 * The key two entries collide on: Windows and default macOS file systems ignore case, so
 * "Handler.exe" and "handler.EXE" are the same file there.
 */
export function collisionKey(relativePath: string): string {
  return relativePath.normalize('NFC').toLowerCase();
}
