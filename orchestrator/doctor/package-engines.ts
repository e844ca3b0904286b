// Reads engines.node from this copy's package.json, from source (orchestrator/doctor) or from dist/.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findPackageRoot } from '../package-root.js';

/** engines.node of the nearest package.json named himdsproxy above startDirectory. */
export function requiredNodeRange(startDirectory: string = dirname(fileURLToPath(import.meta.url))): string {
  const { root, manifest } = findPackageRoot(startDirectory);
  const range = manifest.engines?.node;
  if (typeof range !== 'string') throw new Error(`${join(root, 'package.json')} has no engines.node`);
  return range;
}
