// Reads engines.node from this copy's package.json, from source (orchestrator/doctor) or from dist/.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_NAME = 'himdsproxy';

/** The nearest package.json named himdsproxy above startDirectory, and its engines.node. */
export function requiredNodeRange(startDirectory: string = dirname(fileURLToPath(import.meta.url))): string {
  let directory = startDirectory;
  for (;;) {
    const manifest = readManifest(join(directory, 'package.json'));
    if (manifest?.name === PACKAGE_NAME) {
      const range = manifest.engines?.node;
      if (typeof range !== 'string') throw new Error(`${join(directory, 'package.json')} has no engines.node`);
      return range;
    }
    const parent = dirname(directory);
    if (parent === directory) throw new Error(`No package.json named ${PACKAGE_NAME} above ${startDirectory}`);
    directory = parent;
  }
}

function readManifest(file: string): { name?: unknown; engines?: { node?: unknown } } | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; engines?: { node?: unknown } };
  } catch {
    return undefined;
  }
}
