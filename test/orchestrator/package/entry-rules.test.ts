// Table tests of the pure zip-entry rules: which names, types and modes may be extracted.
import { expect } from 'chai';
import { checkEntryName, collisionKey, entryKind, extractedFileMode } from '../../../orchestrator/steps/package/entry-rules.js';

describe('package entry rules', () => {
  describe('checkEntryName', () => {
    const accepted: [string, string, boolean][] = [
      ['HandlerManifest.json', 'HandlerManifest.json', false],
      ['bin/handler.exe', 'bin/handler.exe', false],
      ['bin/', 'bin', true],
      ['./bin//tool.dll', 'bin/tool.dll', false],
      ['a/./b/c.txt', 'a/b/c.txt', false],
      ['..data/file', '..data/file', false],
      ['Ünïcode/名前.txt', 'Ünïcode/名前.txt', false],
    ];
    for (const [name, relativePath, isDirectory] of accepted) {
      it(`accepts '${name}' as '${relativePath}'`, () => {
        expect(checkEntryName(name)).to.deep.equal({ ok: true, relativePath, isDirectory });
      });
    }

    const refused: [string, RegExp][] = [
      ['', /empty/],
      ['../evil', /outside the package folder/],
      ['bin/../../evil', /outside the package folder/],
      ['..', /outside the package folder/],
      ['a\\..\\..\\evil', /backslash/],
      ['/etc/passwd', /absolute path/],
      ['C:/Windows/evil.dll', /absolute path/],
      ['c:evil', /absolute path/],
      ['C:\\Windows\\evil.dll', /backslash|absolute/],
      ['./', /names no file/],
      ['file.txt:hidden', /character Windows does not allow/],
      ['bad\u0000name', /character Windows does not allow/],
      ['what?.txt', /character Windows does not allow/],
      ['trailing./file', /dot or space/],
      ['trailing /file', /dot or space/],
      ['NUL', /device name/],
      ['bin/con.txt', /device name/],
      ['COM1.log', /device name/],
    ];
    for (const [name, reason] of refused) {
      it(`refuses ${JSON.stringify(name)}`, () => {
        const verdict = checkEntryName(name);
        expect(verdict.ok).to.equal(false);
        if (!verdict.ok) expect(verdict.reason).to.match(reason);
      });
    }
  });

  describe('entryKind', () => {
    const cases: [string, number, boolean, string][] = [
      ['a regular file with unix mode', 0o100644 << 16, false, 'file'],
      ['a file made on Windows (no unix bits)', 0x20, false, 'file'],
      ['a folder made on Windows', 0x10, true, 'directory'],
      ['a unix folder', 0o040755 << 16, true, 'directory'],
      ['a unix folder whose name lacks the slash', 0o040755 << 16, false, 'directory'],
      ['a symbolic link', (0o120777 << 16) >>> 0, false, 'symbolic link'],
      ['a FIFO', 0o010644 << 16, false, 'special file'],
      ['a block device', 0o060644 << 16, false, 'special file'],
      ['a socket', (0o140644 << 16) >>> 0, false, 'special file'],
    ];
    for (const [label, attributes, isDirectoryName, kind] of cases) {
      it(`sees ${label} as ${kind}`, () => {
        expect(entryKind(attributes, isDirectoryName)).to.equal(kind);
      });
    }
  });

  describe('extractedFileMode', () => {
    it('keeps the execute bits and drops setuid, setgid, sticky and group/other write', () => {
      expect(extractedFileMode(0o100755 << 16)).to.equal(0o755);
      expect(extractedFileMode(0o100644 << 16)).to.equal(0o644);
      expect(extractedFileMode(0o104777 << 16)).to.equal(0o755);
      expect(extractedFileMode(0x20)).to.equal(0o644);
    });
  });

  it('collisionKey ignores case and Unicode normalisation form', () => {
    expect(collisionKey('Bin/Handler.EXE')).to.equal(collisionKey('bin/handler.exe'));
    expect(collisionKey('caf\u00e9')).to.equal(collisionKey('cafe\u0301'));
  });
});
