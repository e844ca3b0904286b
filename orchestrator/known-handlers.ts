// The handler packages himdsproxy knows where to download (assets/known-handlers.json), and picking one.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT_CODES, HimdsproxyError } from './errors.js';
import { findPackageRoot } from './package-root.js';

export interface KnownHandler {
  /** "<Publisher>.<Type>" */
  name: string;
  version: string;
  url: string;
  /** Lower-case hex, or undefined where no checksum is known. */
  sha256?: string;
  default: boolean;
}

/** Validates the catalog's shape; a broken catalog is a broken installation, said plainly. */
export function parseKnownHandlers(text: string, source: string): KnownHandler[] {
  const problem = (what: string) => new Error(`${source}: ${what}`);
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw problem('not JSON');
  }
  const entries = (document as { handlers?: unknown } | null)?.handlers;
  if (!Array.isArray(entries) || entries.length === 0) throw problem('"handlers" must be a non-empty array');
  const handlers = entries.map((entry: unknown, index): KnownHandler => {
    const fields = (entry ?? {}) as Record<string, unknown>;
    for (const key of ['name', 'version', 'url'] as const) {
      if (typeof fields[key] !== 'string' || fields[key] === '') throw problem(`handlers[${index}].${key} must be a non-empty string`);
    }
    const sha256 = fields.sha256;
    if (sha256 !== null && sha256 !== undefined && !(typeof sha256 === 'string' && /^[0-9a-f]{64}$/i.test(sha256))) {
      throw problem(`handlers[${index}].sha256 must be 64 hexadecimal characters or null`);
    }
    return {
      name: fields.name as string,
      version: fields.version as string,
      url: fields.url as string,
      ...(typeof sha256 === 'string' ? { sha256: sha256.toLowerCase() } : {}),
      default: fields.default === true,
    };
  });
  if (handlers.filter((handler) => handler.default).length !== 1) throw problem('exactly one handler must have "default": true');
  return handlers;
}

let catalog: KnownHandler[] | undefined;

/** The shipped catalog, read once. */
export function knownHandlers(): KnownHandler[] {
  if (!catalog) {
    const file = join(findPackageRoot().root, 'assets', 'known-handlers.json');
    catalog = parseKnownHandlers(readFileSync(file, 'utf8'), file);
  }
  return catalog;
}

export function defaultHandler(handlers: readonly KnownHandler[] = knownHandlers()): KnownHandler {
  return handlers.find((handler) => handler.default)!;
}

/** Where to download name/version from, or a usage error naming the versions that are known. */
export function knownDownload(name: string, version: string, handlers: readonly KnownHandler[] = knownHandlers()): KnownHandler {
  const match = handlers.find((handler) => handler.name.toLowerCase() === name.toLowerCase() && handler.version === version);
  if (match) return match;
  const known = handlers.filter((handler) => handler.name.toLowerCase() === name.toLowerCase()).map((handler) => handler.version);
  throw new HimdsproxyError(
    `No download URL is known for ${name} ${version}${known.length ? ` (known: ${known.join(', ')})` : ''}`,
    EXIT_CODES.usage,
    'Pass --handler-url with the package URL, or --handler-zip with a zip you downloaded',
  );
}
