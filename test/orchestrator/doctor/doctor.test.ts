// runDoctor: runs every check, turns a crashing check into a failure, and decides the exit code.
import { expect } from 'chai';
import type { CheckResult, DoctorCheck } from '../../../orchestrator/doctor/check.js';
import { DOCTOR_CHECKS, doctorExitCode, runDoctor } from '../../../orchestrator/doctor/doctor.js';
import { fakeContext, fakePlatform } from './fake-context.js';

function result(outcome: CheckResult['outcome']): CheckResult {
  return { id: outcome, title: outcome, outcome, detail: '' };
}

describe('runDoctor', () => {
  it('runs the nine checks of issue 4 in order, and a healthy machine has no warning or failure', async () => {
    const results = await runDoctor(fakeContext());
    expect(results.map((check) => check.id)).to.deep.equal([
      'operating-system', 'elevated', 'node-version', 'arc-agent', 'himds', 'metadata-address', 'entra-join', 'outbound', 'work-folder',
    ]);
    expect(results.filter((check) => check.outcome === 'warn' || check.outcome === 'fail')).to.deep.equal([]);
    expect(doctorExitCode(results)).to.equal(0);
  });

  it('gives every warn and fail a fix', async () => {
    const results = await runDoctor(fakeContext({
      platform: fakePlatform({ elevated: false }),
      nodeVersion: '18.0.0',
      processList: async () => [],
      env: {},
      probeHimds: async () => ({ machineName: 'm', resourceGroup: 'g', location: 'l', tokenObtained: false }),
      probeMetadataAddress: async () => ({ kind: 'aws-imds' }),
      canConnect: async () => false,
      freeBytes: async () => 1024,
    }));
    const unhappy = results.filter((check) => check.outcome === 'warn' || check.outcome === 'fail');
    expect(unhappy.length).to.be.greaterThan(5);
    for (const check of unhappy) expect(check.fix, check.id).to.be.a('string').and.not.equal('');
    expect(doctorExitCode(results)).to.equal(3);
  });

  it('reports a check that throws as a failure carrying the error, and still runs the others', async () => {
    const crashing: DoctorCheck = { id: 'crashing', title: 'Crashing', run: async () => { throw new TypeError('cannot read properties of undefined'); } };
    const results = await runDoctor(fakeContext(), [crashing, ...DOCTOR_CHECKS]);
    expect(results).to.have.length(DOCTOR_CHECKS.length + 1);
    expect(results[0]).to.include({ id: 'crashing', title: 'Crashing', outcome: 'fail' });
    expect(results[0]!.detail).to.contain('TypeError: cannot read properties of undefined');
    expect(results[0]!.fix).to.be.a('string');
    expect(results.slice(1).every((check) => check.outcome !== 'fail')).to.equal(true);
  });

  it('treats an injected dependency that rejects with a non-Error as a failure too', async () => {
    const results = await runDoctor(fakeContext({ processList: () => Promise.reject('ps failed') }));
    const arcAgent = results.find((check) => check.id === 'arc-agent')!;
    expect(arcAgent.outcome).to.equal('fail');
    expect(arcAgent.detail).to.contain('ps failed');
  });

  it('changes nothing: never touches the loopback address through the adapter', async () => {
    // fakePlatform throws from hasLoopbackAddress/add/remove; such a call would show as a failure.
    const results = await runDoctor(fakeContext());
    expect(results.some((check) => check.detail.includes('doctor must'))).to.equal(false);
  });
});

describe('doctorExitCode', () => {
  it('is 0 without failures, whatever the warnings and infos', () => {
    expect(doctorExitCode([])).to.equal(0);
    expect(doctorExitCode([result('pass'), result('warn'), result('info')])).to.equal(0);
  });

  it('is 3 (preflight failed) with any failure', () => {
    expect(doctorExitCode([result('pass'), result('fail')])).to.equal(3);
    expect(doctorExitCode([result('fail')])).to.equal(3);
  });
});
