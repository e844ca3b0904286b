// Tests running manifest commands: parsing, the package-folder fence, exit codes, timeouts, output log, install-once.
import { expect } from 'chai';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EXIT_CODES, HimdsproxyError } from '../../orchestrator/errors.js';
import { MemoryReporter } from '../../orchestrator/reporter.js';
import { installOnce, parseHandlerCommand, runHandlerCommand, type HandlerCommandContext } from '../../orchestrator/steps/handler.js';
import { DEFAULT_HANDLER, handlerPaths } from '../../orchestrator/work-folder.js';
import { rejectionOf } from '../support/rejection.js';

/** The SHA-256 of the package zip the install marker is for. */
const PACKAGE_SHA = 'a'.repeat(64);

describe('parseHandlerCommand', () => {
  const accepted: [string, string, string[]][] = [
    ['bin/x enable', 'bin/x', ['enable']],
    ['AADLoginForWindowsHandler.exe enable', 'AADLoginForWindowsHandler.exe', ['enable']],
    ['  bin/x   install  ', 'bin/x', ['install']],
    ['bin\\handler.exe enable', 'bin\\handler.exe', ['enable']],
    ['"bin/my handler" enable "two words"', 'bin/my handler', ['enable', 'two words']],
    ["bin/x 'single quoted' \"\"", 'bin/x', ['single quoted', '']],
    ['bin/x a"b c"d', 'bin/x', ['ab cd']],
    ['./bin/x enable', './bin/x', ['enable']],
    ['bin/x ../not-a-program-so-allowed', 'bin/x', ['../not-a-program-so-allowed']],
    ['bin/x..y enable', 'bin/x..y', ['enable']],
  ];
  for (const [command, program, args] of accepted) {
    it(`splits ${JSON.stringify(command)}`, () => {
      expect(parseHandlerCommand(command)).to.deep.equal({ program, args });
    });
  }

  const rejected: [string, string][] = [
    ['', 'names no program'],
    ['   ', 'names no program'],
    ['"" enable', 'names no program'],
    ['../x enable', "'..'"],
    ['bin/../../x enable', "'..'"],
    ['bin\\..\\..\\x.exe enable', "'..'"],
    ['/bin/sh -c id', 'absolute path'],
    ['C:\\Windows\\System32\\cmd.exe /c whoami', 'absolute path'],
    ['C:cmd.exe', 'absolute path'],
    ['\\\\server\\share\\x.exe', 'absolute path'],
    ['\\x.exe', 'absolute path'],
    ['"bin/x enable', 'never closed'],
    ["bin/x 'enable", 'never closed'],
    ['bin/x\0 enable', 'NUL'],
  ];
  for (const [command, reason] of rejected) {
    it(`rejects ${JSON.stringify(command)}`, () => {
      let caught: unknown;
      try {
        parseHandlerCommand(command);
      } catch (error) {
        caught = error;
      }
      expect(caught).to.be.instanceOf(HimdsproxyError);
      expect((caught as HimdsproxyError).exitCode).to.equal(EXIT_CODES.packageFailed);
      expect((caught as HimdsproxyError).message).to.include(reason);
    });
  }
});

describe('runHandlerCommand and installOnce (real child processes)', function () {
  let workdir: string;
  let context: HandlerCommandContext & { reporter: MemoryReporter };

  before(function () {
    // The fixtures are #!/bin/sh programs.
    if (process.platform === 'win32') this.skip();
  });

  beforeEach(async () => {
    workdir = await mkdtemp(join(tmpdir(), 'himdsproxy-handler-'));
    const paths = handlerPaths(workdir, DEFAULT_HANDLER.name, '9.9.9');
    await mkdir(join(paths.packageDirectory, 'bin'), { recursive: true });
    await program(paths.packageDirectory, 'bin/report', [
      'echo "args:$#:$1:$2"',
      'echo "sequence:$ConfigSequenceNumber"',
      'echo "cwd:$(pwd)"',
      'echo "extra:$HIMDSPROXY_TEST_EXTRA"',
      'echo "complaint on stderr" >&2',
    ]);
    await program(paths.packageDirectory, 'bin/fail', ['echo "failing on purpose"', 'exit 3']);
    await program(paths.packageDirectory, 'bin/sleep', ['echo $$ > "$1"', 'exec sleep 60']);
    await program(paths.packageDirectory, 'bin/count', ['echo run >> "$1"', 'exit "${2:-0}"']);
    context = {
      paths,
      sequenceNumber: 4,
      outputLog: join(workdir, 'Logs', 'himdsproxy', 'run', 'handler.log'),
      timeoutMs: 20_000,
      reporter: new MemoryReporter(),
      env: { HIMDSPROXY_TEST_EXTRA: 'from-context' },
    };
  });

  afterEach(async () => {
    await rm(workdir, { recursive: true, force: true });
  });

  it('runs the program in the package folder with ConfigSequenceNumber and appends its output to the log', async () => {
    await runHandlerCommand('enable', 'bin/report enable "two words"', context);
    const log = await readFile(context.outputLog, 'utf8');
    expect(log).to.include('args:2:enable:two words');
    expect(log).to.include('sequence:4');
    expect(log).to.include(`cwd:${context.paths.packageDirectory}`);
    expect(log).to.include('extra:from-context');
    expect(log).to.include('complaint on stderr');
    expect(log).to.match(/^=== \S+ enable: bin\/report enable "two words" \(ConfigSequenceNumber=4, in .+\) ===$/m);
    expect(log).to.match(/^=== \S+ enable ended: exit code 0 ===$/m);
    expect(context.reporter.text()).to.include('Running the handler enable command: bin/report enable "two words"');

    await runHandlerCommand('enable', 'bin/report again', { ...context, sequenceNumber: 5 });
    const secondLog = await readFile(context.outputLog, 'utf8');
    expect(secondLog.startsWith(log)).to.equal(true);
    expect(secondLog).to.include('sequence:5');
  });

  it('fails with exit code 6 naming the command and its exit code', async () => {
    const error = await rejectionOf(runHandlerCommand('enable', 'bin/fail enable', context), HimdsproxyError);
    expect(error.exitCode).to.equal(EXIT_CODES.handlerError);
    expect(error.message).to.equal("Handler enable command 'bin/fail enable' exited with code 3");
    expect(error.fix).to.include(context.outputLog);
    expect(await readFile(context.outputLog, 'utf8')).to.include('failing on purpose');
  });

  it('stops a command that outlives its timeout, reports exit code 7, and leaves no process behind', async () => {
    const pidFile = join(workdir, 'sleep.pid');
    const error = await rejectionOf(runHandlerCommand('install', `bin/sleep ${pidFile}`, { ...context, timeoutMs: 500 }), HimdsproxyError);
    expect(error.exitCode).to.equal(EXIT_CODES.timedOut);
    expect(error.message).to.include("Handler install command 'bin/sleep");
    expect(error.message).to.include('timed out after 0.5 s');
    await expectProcessGone(Number(await readFile(pidFile, 'utf8')));
    expect(await readFile(context.outputLog, 'utf8')).to.include('(timed out)');
  });

  it('kills the command when the signal aborts and reports an interruption', async () => {
    const pidFile = join(workdir, 'sleep.pid');
    const controller = new AbortController();
    const running = rejectionOf(runHandlerCommand('enable', `bin/sleep ${pidFile}`, { ...context, signal: controller.signal }), HimdsproxyError);
    const pid = await waitForPid(pidFile);
    controller.abort();
    const error = await running;
    expect(error.exitCode).to.equal(EXIT_CODES.interrupted);
    await expectProcessGone(pid);
  });

  it('rethrows a HimdsproxyError given as the abort reason (e.g. the proxy died)', async () => {
    const pidFile = join(workdir, 'sleep.pid');
    const controller = new AbortController();
    const running = rejectionOf(runHandlerCommand('enable', `bin/sleep ${pidFile}`, { ...context, signal: controller.signal }), HimdsproxyError);
    const pid = await waitForPid(pidFile);
    const reason = new HimdsproxyError('The proxy stopped during the join', EXIT_CODES.proxyFailed);
    controller.abort(reason);
    expect(await running).to.equal(reason);
    await expectProcessGone(pid);
  });

  it('does not start anything when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    const countFile = join(workdir, 'count.txt');
    const error = await rejectionOf(runHandlerCommand('enable', `bin/count ${countFile}`, { ...context, signal: controller.signal }), HimdsproxyError);
    expect(error.exitCode).to.equal(EXIT_CODES.interrupted);
    expect(await readFile(countFile, 'utf8').catch(() => 'never ran')).to.equal('never ran');
  });

  it('refuses commands that leave the package folder, before running anything', async () => {
    for (const command of ['../outside enable', '/bin/sh -c "echo pwned"']) {
      const error = await rejectionOf(runHandlerCommand('enable', command, context), HimdsproxyError);
      expect(error.exitCode).to.equal(EXIT_CODES.packageFailed);
    }
    expect(await readFile(context.outputLog, 'utf8').catch(() => 'no log')).to.equal('no log');
  });

  it('refuses a program that is a symbolic link to a file outside the package', async () => {
    const outside = join(workdir, 'outside.sh');
    await writeFile(outside, '#!/bin/sh\necho escaped\n', { mode: 0o755 });
    await symlink(outside, join(context.paths.packageDirectory, 'bin', 'link'));
    const error = await rejectionOf(runHandlerCommand('enable', 'bin/link enable', context), HimdsproxyError);
    expect(error.exitCode).to.equal(EXIT_CODES.packageFailed);
    expect(error.message).to.include('outside the package folder');
  });

  it('names a program missing from the package', async () => {
    const error = await rejectionOf(runHandlerCommand('enable', 'bin/absent enable', context), HimdsproxyError);
    expect(error.exitCode).to.equal(EXIT_CODES.packageFailed);
    expect(error.message).to.include('bin/absent');
    expect(error.message).to.include('ENOENT');
  });

  it('says when the program cannot be started (not executable)', async () => {
    await writeFile(join(context.paths.packageDirectory, 'bin', 'plain'), '#!/bin/sh\necho hi\n', { mode: 0o644 });
    await chmod(join(context.paths.packageDirectory, 'bin', 'plain'), 0o644);
    const error = await rejectionOf(runHandlerCommand('enable', 'bin/plain enable', context), HimdsproxyError);
    expect(error.exitCode).to.equal(EXIT_CODES.handlerError);
    expect(error.message).to.include('could not be started (EACCES)');
  });

  it('installs once: runs, records the marker, and skips on the next run', async () => {
    const countFile = join(workdir, 'count.txt');
    const command = `bin/count ${countFile}`;
    expect(await installOnce(command, PACKAGE_SHA, context)).to.deep.equal({ ran: true });
    const marker = JSON.parse(await readFile(context.paths.installedMarker, 'utf8')) as Record<string, string>;
    expect(marker.version).to.equal('9.9.9');
    expect(marker.command).to.equal(command);
    expect(marker.packageSha256).to.equal(PACKAGE_SHA);
    expect(Number.isNaN(Date.parse(marker.installedAt!))).to.equal(false);

    expect(await installOnce(command, PACKAGE_SHA, context)).to.deep.equal({ ran: false });
    expect(await readFile(countFile, 'utf8')).to.equal('run\n');
    expect(context.reporter.text()).to.include('skipping the install command');
  });

  it('does not record a failed install, so the next run tries again', async () => {
    const countFile = join(workdir, 'count.txt');
    const error = await rejectionOf(installOnce(`bin/count ${countFile} 4`, PACKAGE_SHA, context), HimdsproxyError);
    expect(error.exitCode).to.equal(EXIT_CODES.handlerError);
    expect(await readFile(context.paths.installedMarker, 'utf8').catch(() => 'no marker')).to.equal('no marker');
    expect(await installOnce(`bin/count ${countFile} 0`, PACKAGE_SHA, context)).to.deep.equal({ ran: true });
    expect(await readFile(countFile, 'utf8')).to.equal('run\nrun\n');
  });

  for (const [label, markerText] of [
    ['garbage', 'not json'],
    ['null', 'null'],
    ['another version', JSON.stringify({ version: '1.0.0', command: 'CMD', packageSha256: 'SHA', installedAt: '2020-01-01T00:00:00Z' })],
    ['another command', JSON.stringify({ version: '9.9.9', command: 'bin/other install', packageSha256: 'SHA', installedAt: '2020-01-01T00:00:00Z' })],
    ['another package zip of the same version', JSON.stringify({ version: '9.9.9', command: 'CMD', packageSha256: 'f'.repeat(64), installedAt: '2020-01-01T00:00:00Z' })],
    ['missing fields', JSON.stringify({ version: '9.9.9' })],
  ] as const) {
    it(`installs again when the marker is ${label}`, async () => {
      const countFile = join(workdir, 'count.txt');
      const command = `bin/count ${countFile}`;
      await writeFile(context.paths.installedMarker, markerText.replace('CMD', command).replace('SHA', PACKAGE_SHA));
      expect(await installOnce(command, PACKAGE_SHA, context)).to.deep.equal({ ran: true });
      expect(await readFile(countFile, 'utf8')).to.equal('run\n');
    });
  }
});

async function program(packageDirectory: string, relativePath: string, lines: string[]): Promise<void> {
  const file = join(packageDirectory, relativePath);
  await writeFile(file, ['#!/bin/sh', ...lines, ''].join('\n'));
  await chmod(file, 0o755);
}


async function waitForPid(pidFile: string): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const text = await readFile(pidFile, 'utf8').catch(() => '');
    if (/^\d+\s*$/.test(text)) return Number(text);
    await sleep(25);
  }
  throw new Error(`no pid appeared in ${pidFile}`);
}

async function expectProcessGone(pid: number): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    if (!isAlive(pid)) return;
    await sleep(25);
  }
  expect(isAlive(pid), `process ${pid} still running`).to.equal(false);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
