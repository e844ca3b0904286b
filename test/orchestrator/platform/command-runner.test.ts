// The real command runner against real child processes: output, exit codes, timeouts, missing programs.
import { expect } from 'chai';
import { COMMAND_NOT_STARTED_EXIT_CODE, execaCommandRunner } from '../../../orchestrator/platform/command-runner.js';

const node = process.execPath;

describe('execaCommandRunner', () => {
  it('returns output and exit code 0', async () => {
    const result = await execaCommandRunner.run(node, ['-e', 'process.stdout.write("out\\n"); process.stderr.write("err")']);
    expect(result).to.deep.equal({ exitCode: 0, stdout: 'out\n', stderr: 'err', timedOut: false });
  });

  it('does not throw for a non-zero exit', async () => {
    const result = await execaCommandRunner.run(node, ['-e', 'console.log("The object already exists."); process.exit(1)']);
    expect(result.exitCode).to.equal(1);
    expect(result.stdout.trim()).to.equal('The object already exists.');
    expect(result.timedOut).to.equal(false);
  });

  it('passes arguments literally, without a shell', async () => {
    const tricky = "a b; echo 'injected' | $(whoami) \"q\"";
    const result = await execaCommandRunner.run(node, ['-e', 'process.stdout.write(process.argv[1])', tricky]);
    expect(result.stdout).to.equal(tricky);
  });

  it('feeds input when asked and closes stdin otherwise (a reader does not hang)', async () => {
    const reader = 'let s = ""; process.stdin.on("data", (d) => (s += d)); process.stdin.on("end", () => process.stdout.write(`[${s}]`))';
    expect((await execaCommandRunner.run(node, ['-e', reader], { input: 'hello' })).stdout).to.equal('[hello]');
    expect((await execaCommandRunner.run(node, ['-e', reader], { timeoutMs: 10_000 })).stdout).to.equal('[]');
  });

  it('reports a timeout as timedOut and stops the child', async () => {
    const result = await execaCommandRunner.run(node, ['-e', 'setInterval(() => {}, 1000)'], { timeoutMs: 200 });
    expect(result.timedOut).to.equal(true);
    expect(result.exitCode).not.to.equal(0);
  });

  it('reports a missing program with exit code 127 and the reason', async () => {
    const result = await execaCommandRunner.run('himdsproxy-no-such-program', ['x']);
    expect(result.exitCode).to.equal(COMMAND_NOT_STARTED_EXIT_CODE);
    expect(result.timedOut).to.equal(false);
    expect(result.stderr).to.match(/ENOENT/);
  });
});
