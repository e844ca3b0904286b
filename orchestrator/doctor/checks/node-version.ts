// Check 3: the running Node.js meets engines.node of package.json (a ">=X.Y.Z" range).

import type { DoctorCheck } from '../check.js';

type VersionTriple = [number, number, number];

function parseVersion(text: string): VersionTriple | undefined {
  const match = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:[-+].*)?$/.exec(text.trim());
  if (!match) return undefined;
  return [Number(match[1]), Number(match[2] ?? 0), Number(match[3] ?? 0)];
}

/**
 * Does version satisfy a ">=X", ">=X.Y" or ">=X.Y.Z" range? That is the only form engines.node
 * takes here, so this replaces a semver dependency. Throws RangeError for anything else.
 */
export function satisfiesMinimumVersion(version: string, range: string): boolean {
  const minimumMatch = /^>=\s*(.+)$/.exec(range.trim());
  const minimum = minimumMatch ? parseVersion(minimumMatch[1]!) : undefined;
  if (!minimum) throw new RangeError(`Expected a version range of the form ">=X.Y.Z", got "${range}"`);
  const actual = parseVersion(version);
  if (!actual) throw new RangeError(`Expected a version like "20.19.0", got "${version}"`);
  for (let index = 0; index < 3; index++) {
    if (actual[index]! !== minimum[index]!) return actual[index]! > minimum[index]!;
  }
  return true;
}

export const nodeVersionCheck: DoctorCheck = {
  id: 'node-version',
  title: 'Node.js version',
  async run({ nodeVersion, requiredNodeRange }) {
    if (satisfiesMinimumVersion(nodeVersion, requiredNodeRange)) {
      return { outcome: 'pass', detail: `Node.js ${nodeVersion} meets ${requiredNodeRange}.` };
    }
    return {
      outcome: 'fail',
      detail: `Node.js ${nodeVersion} is too old: himdsproxy needs ${requiredNodeRange}.`,
      fix: 'Install the current Node.js LTS from https://nodejs.org (Windows: winget install OpenJS.NodeJS.LTS), then open a new console.',
    };
  },
};
