// The one real join on Linux: inside a private network namespace, join adds 169.254.169.254 to lo,
// the proxy binds 169.254.169.254:80, the fake handler reaches it there, and the address goes again.
import { expect } from 'chai';
import { join } from 'node:path';
import { canCreateNetworkNamespace, runInNetworkNamespace } from '../support/network-namespace.js';
import { PROJECT_ROOT } from '../support/join-harness.js';

interface ScenarioReport {
  addressBefore: boolean;
  addressAfter: boolean;
  exitCode: number;
  stderr: string;
  handlerCalls: string[];
  joinLogMentionsAdd: boolean;
  pidFileLeft: boolean;
}

describe('himdsproxy join on 169.254.169.254 in a private network namespace', function () {
  this.timeout(90_000);

  before(async function () {
    const possible = await canCreateNetworkNamespace();
    if (!possible.ok) {
      console.log(`      skipped: ${possible.reason} (CI runs the tests as root, where this runs)`);
      this.skip();
    }
  });

  it('adds the address, serves the handler there on port 80, and removes it afterwards', async () => {
    const scenario = join(PROJECT_ROOT, 'test', 'join', 'netns-scenario.ts');
    const run = await runInNetworkNamespace(process.execPath, ['--import', 'tsx', scenario], { cwd: PROJECT_ROOT, timeoutMs: 80_000 });
    expect(run.exitCode, `${run.stdout}\n${run.stderr}`).to.equal(0);
    const report = JSON.parse(run.stdout.trim().split('\n').pop()!) as ScenarioReport;

    expect(report.exitCode, report.stderr).to.equal(0);
    expect(report.addressBefore, 'the namespace starts without the address').to.equal(false);
    expect(report.joinLogMentionsAdd, 'join.log says it added the address').to.equal(true);
    expect(report.handlerCalls).to.have.length(3);
    for (const call of report.handlerCalls) expect(call).to.match(/GET \/metadata\/.* -> 200$/);
    expect(report.stderr).to.include('The proxy answers at http://169.254.169.254:80');
    expect(report.addressAfter, 'the address is removed after the join').to.equal(false);
    expect(report.pidFileLeft, 'the pid file is removed').to.equal(false);
  });
});
