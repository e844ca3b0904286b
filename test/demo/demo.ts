// `npm run demo`: the whole join as a user sees it, on loopback, with the HIMDS emulator standing in
// for the Arc agent and the fake handler for AADLoginForWindows. Changes nothing outside a temp folder.
import { execaNode } from 'execa';
import { JoinHarness, BUILT_CLI } from '../support/join-harness.js';

const keep = process.argv.includes('--keep');
const harness = await JoinHarness.start();
const args = harness.joinArguments(['--progress']);
process.stdout.write(
  [
    'himdsproxy demo: a join on loopback.',
    `  HIMDS emulator   ${harness.emulator.url} (key files in ${harness.emulator.tokenDirectory})`,
    `  handler package  ${harness.downloads.url('/…zip')} (the fake AADLoginForWindows)`,
    `  work folder      ${harness.workdir}`,
    '',
    `$ himdsproxy ${args.join(' ')}`,
    '',
  ].join('\n'),
);

let exitCode: number | undefined;
try {
  const run = await execaNode(BUILT_CLI, args, {
    stdio: 'inherit',
    reject: false,
    nodeOptions: [],
    env: { FAKE_HANDLER_MODE: process.env.FAKE_HANDLER_MODE ?? 'slow', FAKE_HANDLER_STEP_MS: '400' },
  });
  exitCode = run.exitCode;
  const requests = harness.emulator.requests.map((request) => `  ${request.method} ${request.path} → ${request.status}`);
  process.stdout.write(`\nWhat the emulated HIMDS saw (the proxy answered each key-file challenge):\n${requests.join('\n')}\n`);
  if (keep) process.stdout.write(`\nKept ${harness.workdir}: look at Packages/ and Logs/ there.\n`);
} finally {
  if (keep) {
    await harness.downloads.close();
    await harness.emulator.stop();
  } else {
    await harness.close();
  }
}
process.exitCode = exitCode ?? 1;
