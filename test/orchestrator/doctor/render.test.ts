// The doctor table and JSON, checked as exact text for a fixed set of results.
import { expect } from 'chai';
import type { CheckResult } from '../../../orchestrator/doctor/check.js';
import { runDoctor } from '../../../orchestrator/doctor/doctor.js';
import { renderDoctorJson, renderDoctorTable, summarise } from '../../../orchestrator/doctor/render.js';
import { fakeContext, fakePlatform } from './fake-context.js';

const FIXED_RESULTS: CheckResult[] = [
  { id: 'operating-system', title: 'Operating system', outcome: 'pass', detail: 'Windows Server 2022 Datacenter (10.0.20348): supported, and not covered by the native Arc extension.' },
  { id: 'elevated', title: 'Administrator', outcome: 'fail', detail: 'Not running as Administrator.', fix: 'Open PowerShell with "Run as Administrator" and run the command again.' },
  { id: 'outbound', title: 'Entra endpoints', outcome: 'warn', detail: '1 of 4 unreachable: pas.windows.net: DNS lookup failed (ENOTFOUND).', fix: 'Allow outbound HTTPS (443) to these hosts.' },
  { id: 'entra-join', title: 'Entra join state', outcome: 'info', detail: 'Not Entra joined yet.' },
];

const EXPECTED_TABLE = `\
Check            │ Result │ Detail / what to do
─────────────────┼────────┼────────────────────────────────────────────────────
Operating system │ pass   │ Windows Server 2022 Datacenter (10.0.20348):
                 │        │ supported, and not covered by the native Arc
                 │        │ extension.
Administrator    │ FAIL   │ Not running as Administrator.
                 │        │ → Open PowerShell with "Run as Administrator" and
                 │        │   run the command again.
Entra endpoints  │ WARN   │ 1 of 4 unreachable: pas.windows.net: DNS lookup
                 │        │ failed (ENOTFOUND).
                 │        │ → Allow outbound HTTPS (443) to these hosts.
Entra join state │ info   │ Not Entra joined yet.
`;

describe('renderDoctorTable', () => {
  it('renders the fixed results exactly', () => {
    expect(renderDoctorTable(FIXED_RESULTS)).to.equal(EXPECTED_TABLE);
  });

  it('keeps every line of a real doctor run within 79 columns, but for lone over-long words; no trailing spaces', async () => {
    const results = await runDoctor(fakeContext({ platform: fakePlatform({ elevated: false }), canConnect: async () => false, processList: async () => [] }));
    const lines = renderDoctorTable(results).split('\n');
    for (const line of lines) {
      const detail = line.split(' │ ')[2] ?? '';
      if (line.length > 79) expect(detail.trim().split(' ').filter((word) => word !== '→'), line).to.have.length(1);
      expect(line, line).to.equal(line.trimEnd());
    }
    expect(lines.filter((line) => line.length > 79)).to.have.length.at.most(1);
  });

  it('never splits a long word such as a URL, so it stays copyable', () => {
    const url = 'https://learn.microsoft.com/entra/identity/devices/howto-arc-sign-in-windows';
    const text = renderDoctorTable([{ id: 'os', title: 'OS', outcome: 'warn', detail: 'Native support.', fix: `See ${url}` }]);
    expect(text.split('\n').some((line) => line.endsWith(`  ${url}`))).to.equal(true);
  });

  it('widens the first column for a long title and wraps the detail in what is left', () => {
    const text = renderDoctorTable([{ id: 'x', title: 'A rather long check title', outcome: 'pass', detail: 'word '.repeat(30).trim() }], 70);
    const lines = text.split('\n');
    expect(lines[2]!.startsWith('A rather long check title │ pass   │ word')).to.equal(true);
    for (const line of lines) expect(line.length).to.be.at.most(70);
  });

  it('renders an empty or blank detail without crashing', () => {
    const text = renderDoctorTable([{ id: 'x', title: 'Empty', outcome: 'info', detail: '' }, { id: 'y', title: 'Blank', outcome: 'info', detail: ' \n\t ' }]);
    expect(text).to.contain('\nEmpty │ info   │\n');
    expect(text).to.contain('\nBlank │ info   │\n');
  });
});

describe('summarise', () => {
  it('gives the verdict and counts only the outcomes present', () => {
    expect(summarise(FIXED_RESULTS)).to.equal('Not ready for join: 1 failed, 1 warning, 1 passed, 1 info.');
    expect(summarise([])).to.equal('Ready for join: no checks ran.');
    const one = { id: 'a', title: 'a', outcome: 'pass', detail: '' } as const;
    expect(summarise([one, one])).to.equal('Ready for join: 2 passed.');
    expect(summarise([{ ...one, outcome: 'warn' }, { ...one, outcome: 'warn' }])).to.equal('Ready for join: 2 warnings.');
  });

  it('fits in 79 columns even with every outcome in double figures', () => {
    const many = (['pass', 'warn', 'fail', 'info'] as const).flatMap((outcome) => Array.from({ length: 12 }, () => ({ id: outcome, title: outcome, outcome, detail: '' })));
    expect(summarise(many).length).to.be.at.most(79);
  });
});

describe('renderDoctorJson', () => {
  it('prints { ok, checks } with the results unchanged', () => {
    const parsed = JSON.parse(renderDoctorJson(FIXED_RESULTS)) as unknown;
    expect(parsed).to.deep.equal({ ok: false, checks: FIXED_RESULTS });
  });

  it('is ok with warnings and infos only', () => {
    const parsed = JSON.parse(renderDoctorJson(FIXED_RESULTS.filter((result) => result.outcome !== 'fail'))) as { ok: boolean };
    expect(parsed.ok).to.equal(true);
  });
});
