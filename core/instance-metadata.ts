// Pure helpers for instance metadata: walking a sub-path and rendering it the way IMDS does.

/**
 * IMDS answers every primitive as a string; HIMDS's own strings are kept exactly as sent.
 * Copy-on-write: a document that is already all strings comes back as the very same object,
 * so callers can relay HIMDS's text untouched instead of serialising it again.
 */
export function stringifyPrimitives(value: unknown): unknown {
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    value.forEach((child, index) => {
      const shaped = stringifyPrimitives(child);
      if (shaped !== child) (copy ??= [...value])[index] = shaped;
    });
    return copy ?? value;
  }
  if (value !== null && typeof value === 'object') {
    let copy: Record<string, unknown> | undefined;
    for (const [key, child] of Object.entries(value)) {
      const shaped = stringifyPrimitives(child);
      if (shaped !== child) (copy ??= { ...value })[key] = shaped;
    }
    return copy ?? value;
  }
  // null is kept: HIMDS sends it where IMDS has a collection (publicKeys), and "" would mislead.
  return value;
}

/** The node at segments (object keys, array indexes), or undefined when there is none. */
export function walkInstanceMetadata(document: unknown, segments: readonly string[]): unknown {
  let node: unknown = document;
  for (const segment of segments) {
    if (Array.isArray(node)) {
      if (!/^\d+$/.test(segment)) return undefined;
      node = node[Number(segment)];
    } else if (node !== null && typeof node === 'object' && Object.hasOwn(node, segment)) {
      node = (node as Record<string, unknown>)[segment];
    } else {
      return undefined;
    }
  }
  return node;
}

export function isLeaf(node: unknown): boolean {
  return node === null || typeof node !== 'object';
}

/** format=text of a non-leaf: one child per line, containers marked with a trailing "/" as IMDS does. */
export function listChildrenAsText(node: object): string {
  const entries = Array.isArray(node) ? node.map((child, index) => [String(index), child] as const) : Object.entries(node);
  return entries.map(([key, child]) => (isLeaf(child) ? key : `${key}/`)).join('\n');
}

export function leafAsText(node: unknown): string {
  return node === null || node === undefined ? '' : String(node);
}
