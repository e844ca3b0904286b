// Static checks of powershell/RunAADLoginForWindows.ps1 (pwsh is not available to run it here).
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const scriptPath = join(projectRoot, 'powershell', 'RunAADLoginForWindows.ps1');
const script = readFileSync(scriptPath, 'utf8');
const packageJson = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { bin: Record<string, string>; engines: { node: string } };

/** The script without its comment-based help and # comments, so checks see only code. */
function codeOnly(text: string): string {
  return text
    .replace(/<#[\s\S]*?#>/g, '')
    .split('\n')
    .map((line) => (line.trimStart().startsWith('#') ? '' : line))
    .join('\n');
}

/** Removes '…' and "…" string literals (PowerShell doubles a quote to escape it). */
function withoutStrings(text: string): string {
  return text.replace(/'(?:[^']|'')*'/g, "''").replace(/"(?:[^"`]|`.|"")*"/g, '""');
}

const code = codeOnly(script);

describe('powershell/RunAADLoginForWindows.ps1 (static checks; the script is not executed here)', () => {
  it('is plain ASCII, so Windows PowerShell 5.1 reads it right without a BOM', () => {
    const nonAscii = [...script].filter((character) => character.charCodeAt(0) > 0x7f);
    expect(nonAscii).to.deep.equal([]);
  });

  it('requires an elevated session and PowerShell 5.1, before anything else', () => {
    const lines = script.split(/\r?\n/);
    expect(lines.slice(0, 2)).to.have.members(['#Requires -RunAsAdministrator', '#Requires -Version 5.1']);
  });

  it('runs in strict mode and stops on errors', () => {
    expect(code).to.match(/^Set-StrictMode -Version Latest$/m);
    expect(code).to.match(/^\$ErrorActionPreference = 'Stop'$/m);
  });

  it('has comment-based help with a synopsis, a description and several examples', () => {
    const help = /<#([\s\S]*?)#>/.exec(script)?.[1] ?? '';
    expect(help).to.match(/^\.SYNOPSIS$/m);
    expect(help).to.match(/^\.DESCRIPTION$/m);
    expect(help.match(/^\.EXAMPLE$/gm) ?? []).to.have.length.at.least(3);
    expect(help).to.contain('.\\RunAADLoginForWindows.ps1 --mdm-id');
    for (const code of [0, 1, 2, 3, 4, 5, 6, 7, 130]) expect(help).to.match(new RegExp(`\\b${code} [a-z]`));
  });

  it('writes a transcript under Logs\\himdsproxy and stops it in a finally block', () => {
    expect(code).to.contain("Join-Path $workFolder 'Logs\\himdsproxy'");
    expect(code).to.match(/Start-Transcript -LiteralPath \$transcript/);
    const startAt = code.indexOf('Start-Transcript');
    const finallyAt = code.indexOf('} finally {', startAt);
    const stopAt = code.indexOf('Stop-Transcript', finallyAt);
    expect(startAt).to.be.greaterThan(-1);
    expect(finallyAt).to.be.greaterThan(startAt);
    expect(stopAt).to.be.greaterThan(finallyAt);
  });

  it('passes every argument through to join, from the package when present, else through an installed himdsproxy (npx, never downloading)', () => {
    expect(code).to.contain('$cliArguments = @($args | ForEach-Object { [string]$_ })');
    expect(code).to.contain("$commandArguments = @($PackageCli, 'join') + $CliArguments");
    expect(code).to.contain("$commandArguments = @('--no-install', 'himdsproxy', 'join') + $CliArguments");
    expect(code).to.not.contain('--yes');
    expect(code).to.contain('& $command @commandArguments');
  });

  it('looks for the CLI where package.json says the binary is', () => {
    const cli = /Join-Path \$PackageRoot '([^']+)'/.exec(code)?.[1];
    expect(cli?.split('\\').join('/')).to.equal(packageJson.bin.himdsproxy);
  });

  it('exits with the exit code of himdsproxy', () => {
    expect(code).to.contain('return $LASTEXITCODE');
    expect(code).to.contain('$exitCode = Invoke-HimdsproxyJoin $cliArguments');
    expect(code.trimEnd().endsWith('exit $exitCode')).to.equal(true);
  });

  it('checks Node.js against engines.node, with an install hint, and its fallback matches package.json', () => {
    expect(code).to.contain('Get-Command node');
    expect(code).to.contain('winget install OpenJS.NodeJS.LTS');
    const fallback = /\$FallbackMinimumNodeVersion = '([^']+)'/.exec(code)?.[1];
    expect(`>=${fallback}`).to.equal(packageJson.engines.node);
    expect(code).to.contain('.engines.node');
  });

  it('holds no workflow logic: no address, join-state, download or handler commands', () => {
    for (const forbidden of ['netsh', 'New-NetIPAddress', 'Remove-NetIPAddress', 'dsregcmd', 'Invoke-WebRequest', 'Expand-Archive', 'AADLoginForWindowsHandler']) {
      expect(code.toLowerCase().includes(forbidden.toLowerCase()), forbidden).to.equal(false);
    }
  });

  it('has balanced braces and parentheses outside strings', () => {
    const bare = withoutStrings(code);
    const count = (character: string): number => bare.split(character).length - 1;
    expect(count('{')).to.equal(count('}'));
    expect(count('(')).to.equal(count(')'));
  });
});
