// HandlerManifest.json parsing: the shapes Microsoft publishes, and every way it can be wrong.
import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT_CODES, HimdsproxyError } from '../../../orchestrator/errors.js';
import { HandlerManifestError, parseHandlerManifest, readHandlerManifest } from '../../../orchestrator/steps/package/manifest.js';

function manifestText(body: Record<string, unknown>, wrapper: (body: unknown) => unknown = (inner) => [{ version: 1.0, handlerManifest: inner }]): string {
  return JSON.stringify(wrapper(body));
}

describe('handler manifest', () => {
  it('parses a manifest like Microsoft publishes (string booleans, commands with arguments)', () => {
    const manifest = parseHandlerManifest(
      manifestText({
        installCommand: 'AADLoginForWindowsHandler.exe install',
        uninstallCommand: 'AADLoginForWindowsHandler.exe uninstall',
        updateCommand: 'AADLoginForWindowsHandler.exe update',
        enableCommand: 'AADLoginForWindowsHandler.exe enable',
        disableCommand: 'AADLoginForWindowsHandler.exe disable',
        rebootAfterInstall: 'false',
        reportHeartbeat: 'TRUE',
      }),
    );
    expect(manifest).to.deep.equal({
      installCommand: 'AADLoginForWindowsHandler.exe install',
      enableCommand: 'AADLoginForWindowsHandler.exe enable',
      uninstallCommand: 'AADLoginForWindowsHandler.exe uninstall',
      updateCommand: 'AADLoginForWindowsHandler.exe update',
      disableCommand: 'AADLoginForWindowsHandler.exe disable',
      rebootAfterInstall: false,
      reportHeartbeat: true,
    });
  });

  it('accepts real booleans, a BOM, and missing optional fields', () => {
    const manifest = parseHandlerManifest(`\uFEFF${manifestText({ installCommand: 'i', enableCommand: 'e', rebootAfterInstall: true })}`);
    expect(manifest).to.deep.equal({ installCommand: 'i', enableCommand: 'e', rebootAfterInstall: true, reportHeartbeat: false });
  });

  const broken: [string, string, RegExp, string | undefined][] = [
    ['not JSON', '{"handlerManifest": ', /not valid JSON/, undefined],
    ['an object instead of an array', JSON.stringify({ version: 1, handlerManifest: { installCommand: 'i', enableCommand: 'e' } }), /array of exactly one object/, undefined],
    ['an empty array', '[]', /array of exactly one object/, undefined],
    ['two entries', manifestText({ installCommand: 'i', enableCommand: 'e' }, (body) => [{ handlerManifest: body }, { handlerManifest: body }]), /array of exactly one object/, undefined],
    ['a string entry', '["x"]', /\[0\] must be an object/, undefined],
    ['no handlerManifest', '[{"version":1.0}]', /handlerManifest must be an object; got nothing/, 'handlerManifest'],
    ['handlerManifest as an array', '[{"handlerManifest":[]}]', /handlerManifest must be an object/, 'handlerManifest'],
    ['no installCommand', manifestText({ enableCommand: 'e' }), /no handlerManifest\.installCommand/, 'installCommand'],
    ['no enableCommand', manifestText({ installCommand: 'i' }), /no handlerManifest\.enableCommand/, 'enableCommand'],
    ['a numeric installCommand', manifestText({ installCommand: 5, enableCommand: 'e' }), /installCommand must be a string; got number 5/, 'installCommand'],
    ['an array enableCommand', manifestText({ installCommand: 'i', enableCommand: ['e'] }), /enableCommand must be a string; got an array/, 'enableCommand'],
    ['an empty enableCommand', manifestText({ installCommand: 'i', enableCommand: '  ' }), /enableCommand must not be empty/, 'enableCommand'],
    ['an object disableCommand', manifestText({ installCommand: 'i', enableCommand: 'e', disableCommand: {} }), /disableCommand must be a string; got an object/, 'disableCommand'],
    ['rebootAfterInstall "yes"', manifestText({ installCommand: 'i', enableCommand: 'e', rebootAfterInstall: 'yes' }), /rebootAfterInstall must be true or false.*"yes"/, 'rebootAfterInstall'],
    ['reportHeartbeat 1', manifestText({ installCommand: 'i', enableCommand: 'e', reportHeartbeat: 1 }), /reportHeartbeat must be true or false.*number 1/, 'reportHeartbeat'],
  ];
  for (const [label, text, message, field] of broken) {
    it(`refuses ${label}, naming the problem`, () => {
      try {
        parseHandlerManifest(text);
        expect.fail('expected a HandlerManifestError');
      } catch (error) {
        expect(error).to.be.instanceOf(HandlerManifestError);
        expect((error as HandlerManifestError).message).to.match(message);
        expect((error as HandlerManifestError).field).to.equal(field);
      }
    });
  }

  describe('readHandlerManifest', () => {
    let directory: string;
    beforeEach(async () => { directory = await mkdtemp(join(tmpdir(), 'himdsproxy-manifest-')); });
    afterEach(async () => { await rm(directory, { recursive: true, force: true }); });

    it('reads the manifest of a package folder', async () => {
      await writeFile(join(directory, 'HandlerManifest.json'), manifestText({ installCommand: 'i', enableCommand: 'e' }));
      expect((await readHandlerManifest(directory)).enableCommand).to.equal('e');
    });

    it('turns a missing manifest into a package failure', async () => {
      const error = await readHandlerManifest(directory).catch((caught: unknown) => caught);
      expect(error).to.be.instanceOf(HimdsproxyError);
      expect((error as HimdsproxyError).exitCode).to.equal(EXIT_CODES.packageFailed);
      expect((error as HimdsproxyError).message).to.match(/no HandlerManifest\.json at its top level/);
    });

    it('turns a malformed manifest into a package failure naming the field', async () => {
      await writeFile(join(directory, 'HandlerManifest.json'), manifestText({ installCommand: 'i' }));
      const error = await readHandlerManifest(directory).catch((caught: unknown) => caught);
      expect((error as HimdsproxyError).exitCode).to.equal(EXIT_CODES.packageFailed);
      expect((error as HimdsproxyError).message).to.match(/enableCommand/);
    });
  });
});
