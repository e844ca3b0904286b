// Handler zips for tests: well-formed ones built with yazl, hostile ones built byte by byte.
import { deflateRawSync, crc32 } from 'node:zlib';
import yazl from 'yazl';

export interface ZipFixtureEntry {
  name: string;
  content: string | Buffer;
  /** Unix permission bits, e.g. 0o755 for a script. */
  mode?: number;
}

/** A well-formed zip, as a normal zip tool would make it. */
export async function buildZip(entries: readonly ZipFixtureEntry[]): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const entry of entries) {
    const content = typeof entry.content === 'string' ? Buffer.from(entry.content) : entry.content;
    zip.addBuffer(content, entry.name, { mode: 0o100000 | (entry.mode ?? 0o644), mtime: new Date('2024-01-01T00:00:00Z') });
  }
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export const FAKE_HANDLER_MANIFEST = JSON.stringify([
  {
    version: 1.0,
    handlerManifest: {
      installCommand: 'bin/handler.sh install',
      enableCommand: 'bin/handler.sh enable',
      uninstallCommand: 'bin/handler.sh uninstall',
      rebootAfterInstall: false,
      reportHeartbeat: 'false',
    },
  },
]);

export const FAKE_HANDLER_SCRIPT = '#!/bin/sh\necho "fake handler $1"\n';

/** A small valid handler package: manifest, an executable script, a data file in a subfolder. */
export function fakeHandlerEntries(extra: readonly ZipFixtureEntry[] = []): ZipFixtureEntry[] {
  return [
    { name: 'HandlerManifest.json', content: FAKE_HANDLER_MANIFEST },
    { name: 'bin/handler.sh', content: FAKE_HANDLER_SCRIPT, mode: 0o755 },
    { name: 'bin/data/readme.txt', content: 'not executable\n', mode: 0o644 },
    ...extra,
  ];
}

export interface RawZipEntry {
  /** Written as is: may contain '../', '\\', 'C:' — whatever a hostile tool would write. */
  name: string | Buffer;
  data?: Buffer;
  /** Full unix mode stored in the high 16 bits of the external attributes (e.g. 0o120777 for a symlink). */
  unixMode?: number;
  method?: 'stored' | 'deflate';
  /** Uncompressed size to claim instead of the real one. */
  declaredSize?: number;
  /** CRC-32 to claim instead of the real one. */
  declaredCrc32?: number;
}

const UNIX_VERSION_MADE_BY = (3 << 8) | 20;

/**
 * A zip assembled by hand, for archives yazl refuses to make. Local headers, central
 * directory and end record are consistent with each other, so only the lie being tested
 * (name, type, size, checksum) is wrong.
 */
export function buildRawZip(entries: readonly RawZipEntry[]): Buffer {
  const localParts: Buffer[] = [];
  const centralParts: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = typeof entry.name === 'string' ? Buffer.from(entry.name, 'utf8') : entry.name;
    const data = entry.data ?? Buffer.alloc(0);
    const method = entry.method ?? 'stored';
    const stored = method === 'stored' ? data : deflateRawSync(data);
    const crc = entry.declaredCrc32 ?? crc32(data);
    const uncompressedSize = entry.declaredSize ?? data.length;
    const flags = typeof entry.name === 'string' ? 0x0800 : 0;
    const methodCode = method === 'stored' ? 0 : 8;

    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(methodCode, 8);
    local.writeUInt16LE(0, 10);
    local.writeUInt16LE(0x21, 12);
    local.writeUInt32LE(crc >>> 0, 14);
    local.writeUInt32LE(stored.length, 18);
    local.writeUInt32LE(uncompressedSize, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    localParts.push(local, name, stored);

    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(UNIX_VERSION_MADE_BY, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(flags, 8);
    central.writeUInt16LE(methodCode, 10);
    central.writeUInt16LE(0, 12);
    central.writeUInt16LE(0x21, 14);
    central.writeUInt32LE(crc >>> 0, 16);
    central.writeUInt32LE(stored.length, 20);
    central.writeUInt32LE(uncompressedSize, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(((entry.unixMode ?? 0o100644) << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    centralParts.push(central, name);

    offset += local.length + name.length + stored.length;
  }
  const centralDirectory = Buffer.concat(centralParts);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(centralDirectory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...localParts, centralDirectory, end]);
}

/** A raw zip holding a valid handler package plus the given hostile entries. */
export function buildRawHandlerZip(hostile: readonly RawZipEntry[]): Buffer {
  return buildRawZip([
    { name: 'HandlerManifest.json', data: Buffer.from(FAKE_HANDLER_MANIFEST) },
    { name: 'bin/handler.sh', data: Buffer.from(FAKE_HANDLER_SCRIPT), unixMode: 0o100755 },
    ...hostile,
  ]);
}
