// HandlerManifest.json (PROTOCOLS.md §3): parsing and validating what the handler says to run.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EXIT_CODES, HimdsproxyError } from '../../errors.js';

export const HANDLER_MANIFEST_FILE = 'HandlerManifest.json';

export interface HandlerManifest {
  installCommand: string;
  enableCommand: string;
  uninstallCommand?: string;
  updateCommand?: string;
  disableCommand?: string;
  rebootAfterInstall: boolean;
  reportHeartbeat: boolean;
}

/** Thrown for a manifest that is not what PROTOCOLS.md §3 describes; `field` names the culprit. */
export class HandlerManifestError extends Error {
  override readonly name = 'HandlerManifestError';
  constructor(message: string, readonly field?: string) {
    super(message);
  }
}

const REQUIRED_COMMANDS = ['installCommand', 'enableCommand'] as const;
const OPTIONAL_COMMANDS = ['uninstallCommand', 'updateCommand', 'disableCommand'] as const;
const FLAGS = ['rebootAfterInstall', 'reportHeartbeat'] as const;

/**
 * Parses the manifest text: `[{"version": 1.0, "handlerManifest": {…}}]`. Commands are
 * non-empty strings; the two flags are booleans or the strings "true"/"false" (Microsoft's
 * own manifests use both) and default to false when absent.
 */
export function parseHandlerManifest(text: string): HandlerManifest {
  let document: unknown;
  try {
    // Windows tools like to write a BOM; JSON.parse does not accept one.
    document = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (error) {
    throw new HandlerManifestError(`${HANDLER_MANIFEST_FILE} is not valid JSON (${(error as Error).message})`);
  }
  if (!Array.isArray(document) || document.length !== 1) {
    throw new HandlerManifestError(`${HANDLER_MANIFEST_FILE} must be a JSON array of exactly one object; got ${describe(document)}`);
  }
  const [entry] = document as unknown[];
  if (!isRecord(entry)) throw new HandlerManifestError(`${HANDLER_MANIFEST_FILE}[0] must be an object; got ${describe(entry)}`);
  const body = entry.handlerManifest;
  if (!isRecord(body)) {
    throw new HandlerManifestError(`${HANDLER_MANIFEST_FILE}[0].handlerManifest must be an object; got ${describe(body)}`, 'handlerManifest');
  }

  const manifest: HandlerManifest = {
    installCommand: requiredCommand(body, 'installCommand'),
    enableCommand: requiredCommand(body, 'enableCommand'),
    rebootAfterInstall: flag(body, 'rebootAfterInstall'),
    reportHeartbeat: flag(body, 'reportHeartbeat'),
  };
  for (const field of OPTIONAL_COMMANDS) {
    const value = body[field];
    if (value === undefined || value === null || value === '') continue;
    manifest[field] = command(value, field);
  }
  return manifest;
}

/** Reads and parses the manifest of an extracted package, as a package-step error on failure. */
export async function readHandlerManifest(packageDirectory: string): Promise<HandlerManifest> {
  const file = join(packageDirectory, HANDLER_MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new HimdsproxyError(
      missing ? `The handler package has no ${HANDLER_MANIFEST_FILE} at its top level` : `Cannot read ${file}: ${(error as Error).message}`,
      EXIT_CODES.packageFailed,
      'Check that --handler-url / --handler-zip points at a VM extension handler package (a zip with HandlerManifest.json at its root).',
      { cause: error },
    );
  }
  try {
    return parseHandlerManifest(text);
  } catch (error) {
    if (!(error instanceof HandlerManifestError)) throw error;
    throw new HimdsproxyError(
      `The handler package's ${error.message}`,
      EXIT_CODES.packageFailed,
      'Check that --handler-url / --handler-zip points at a VM extension handler package.',
      { cause: error },
    );
  }
}

function requiredCommand(body: Record<string, unknown>, field: (typeof REQUIRED_COMMANDS)[number]): string {
  const value = body[field];
  if (value === undefined || value === null) {
    throw new HandlerManifestError(`${HANDLER_MANIFEST_FILE} has no handlerManifest.${field}`, field);
  }
  return command(value, field);
}

function command(value: unknown, field: string): string {
  if (typeof value !== 'string') {
    throw new HandlerManifestError(`${HANDLER_MANIFEST_FILE} handlerManifest.${field} must be a string; got ${describe(value)}`, field);
  }
  if (value.trim() === '') {
    throw new HandlerManifestError(`${HANDLER_MANIFEST_FILE} handlerManifest.${field} must not be empty`, field);
  }
  return value.trim();
}

function flag(body: Record<string, unknown>, field: (typeof FLAGS)[number]): boolean {
  const value = body[field];
  if (value === undefined || value === null) return false;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    const normalized = value.trim().toLowerCase();
    if (normalized === 'true') return true;
    if (normalized === 'false') return false;
  }
  throw new HandlerManifestError(
    `${HANDLER_MANIFEST_FILE} handlerManifest.${field} must be true or false (or the strings "true"/"false"); got ${describe(value)}`,
    field,
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value)}`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}
