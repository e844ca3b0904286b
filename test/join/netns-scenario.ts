// Run inside a private network namespace by netns.test.ts: a real join on 169.254.169.254:80.
// Prints one JSON line with what it saw; the namespace (and any address in it) dies with it.
import { execa } from 'execa';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_HANDLER } from '../../orchestrator/work-folder.js';
import { JoinHarness } from '../support/join-harness.js';

const IMDS_ADDRESS = '169.254.169.254';

async function addressOnLoopback(): Promise<boolean> {
  const { stdout } = await execa('ip', ['-j', '-4', 'address', 'show', 'dev', 'lo']);
  const interfaces = JSON.parse(stdout) as { addr_info?: { local?: string }[] }[];
  return interfaces.some((entry) => entry.addr_info?.some((info) => info.local === IMDS_ADDRESS));
}

const harness = await JoinHarness.start();
try {
  const addressBefore = await addressOnLoopback();
  // The fake handler calls IMDS exactly as dsregcmd does: http://169.254.169.254, no port.
  const result = await harness.runJoin(['--listen', `${IMDS_ADDRESS}:80`], { FAKE_HANDLER_IMDS_URL: `http://${IMDS_ADDRESS}` });
  const addressAfter = await addressOnLoopback();
  const handlerLog = await readFile(
    harness.path('Logs', 'Plugins', DEFAULT_HANDLER.name, DEFAULT_HANDLER.version, 'fake-handler.log'),
    'utf8',
  ).catch(() => '');
  const lastRun = await harness.lastRun().catch(() => undefined);
  const joinLog = lastRun ? await readFile((lastRun.logs as { join: string }).join, 'utf8') : '';
  process.stdout.write(
    `${JSON.stringify({
      addressBefore,
      addressAfter,
      exitCode: result.exitCode,
      stderr: result.stderr,
      handlerCalls: handlerLog.split('\n').filter((line) => line.includes(' GET ')),
      joinLogMentionsAdd: /added 169\.254\.169\.254/i.test(joinLog),
      pidFileLeft: await readFile(join(harness.workdir, 'Logs', 'himdsproxy', 'proxy.pid.json'), 'utf8').then(() => true, () => false),
    })}\n`,
  );
} finally {
  await harness.close();
}
