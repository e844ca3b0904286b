// Finds this copy of himdsproxy on disk (from source or from dist/), for the files it ships beside its code.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_NAME = 'himdsproxy';

export interface PackageManifest {
  name?: unknown;
  engines?: { node?: unknown };
}

/** The folder of the nearest package.json named himdsproxy above startDirectory, and that manifest. */
export function findPackageRoot(startDirectory: string = dirname(fileURLToPath(import.meta.url))): { root: string; manifest: PackageManifest } {
  let directory = startDirectory;
  for (;;) {
    const manifest = readManifest(join(directory, 'package.json'));
    if (manifest?.name === PACKAGE_NAME) return { root: directory, manifest };
    const parent = dirname(directory);
    if (parent === directory) throw new Error(`No package.json named ${PACKAGE_NAME} above ${startDirectory}`);
    directory = parent;
  }
}

function readManifest(file: string): PackageManifest | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as PackageManifest;
  } catch {
    return undefined;
  }
}
