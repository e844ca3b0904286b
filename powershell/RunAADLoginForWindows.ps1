#Requires -Version 5.1
#Requires -RunAsAdministrator
<#
.SYNOPSIS
    Microsoft Entra joins this Azure Arc-enabled Windows Server with the AADLoginForWindows extension, using himdsproxy.

.DESCRIPTION
    A thin entry for Windows administrators. It checks that Node.js is installed and new enough,
    starts a PowerShell transcript in Logs\himdsproxy\ of the work folder, runs `himdsproxy join`
    with every argument you give passed through unchanged, stops the transcript and exits with
    the exit code of himdsproxy. All of the work is done by himdsproxy itself; nothing is decided here.

    himdsproxy runs from the package this script belongs to (..\dist\orchestrator\cli.js, built by
    `npm install` in that folder) when it is there, and otherwise through `npx --no-install`, which
    uses a himdsproxy you installed (npm install -g) and never downloads one.

    Arguments are those of `himdsproxy join`, for example --workdir, --handler-zip, --sha256,
    --mdm-id, --timeout, --force. Run with --help to list them all.

    Exit codes: 0 joined (or already joined), 1 internal error, 2 usage, 3 preflight failed,
    4 package download/verify failed, 5 proxy failed to start, 6 handler reported an error,
    7 timed out, 130 interrupted.

.EXAMPLE
    .\RunAADLoginForWindows.ps1

    Joins with AADLoginForWindows 1.1.0.2 downloaded from its known URL, using the current folder as work folder.

.EXAMPLE
    .\RunAADLoginForWindows.ps1 --mdm-id 0000000a-0000-0000-c000-000000000000

    Joins and enrols the machine in Intune.

.EXAMPLE
    .\RunAADLoginForWindows.ps1 --workdir C:\himdsproxy --handler-zip C:\Downloads\AADLoginForWindows_1.1.0.2.zip --sha256 <hex>

    Joins with a handler package you downloaded and checked yourself; Packages\ and Logs\ go to C:\himdsproxy.

.EXAMPLE
    .\RunAADLoginForWindows.ps1 --help

    Shows every option of `himdsproxy join`.

.NOTES
    Run `npx himdsproxy doctor` first to check the machine without changing anything.
    Logs: Logs\himdsproxy\<run-id>\ (join.log, proxy.log, handler.log), Logs\himdsproxy\last-run.json,
    the handler's own logs under Logs\Plugins\, and this script's transcript in Logs\himdsproxy\.

.LINK
    https://learn.microsoft.com/entra/identity/devices/howto-arc-sign-in-windows
#>

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

# The fallback when the package.json beside this script cannot be read; keep equal to engines.node.
$FallbackMinimumNodeVersion = '20.19'
$PackageRoot = Split-Path -Parent $PSScriptRoot
$PackageCli = Join-Path $PackageRoot 'dist\orchestrator\cli.js'
$PackageManifest = Join-Path $PackageRoot 'package.json'

function Get-MinimumNodeVersion {
    $range = ">=$FallbackMinimumNodeVersion"
    if (Test-Path -LiteralPath $PackageManifest) {
        try {
            $range = [string](Get-Content -LiteralPath $PackageManifest -Raw | ConvertFrom-Json).engines.node
        } catch {
            Write-Verbose "Could not read $PackageManifest; using >=$FallbackMinimumNodeVersion"
        }
    }
    if ($range -notmatch '^>=\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?$') { $range = ">=$FallbackMinimumNodeVersion"; $null = $range -match '^>=(\d+)(?:\.(\d+))?(?:\.(\d+))?$' }
    $groups = $Matches
    $parts = 1..3 | ForEach-Object { if ($groups[$_]) { [int]$groups[$_] } else { 0 } }
    return [version]::new($parts[0], $parts[1], $parts[2])
}

# Where join puts Logs\: the value of --workdir when given, else the current folder.
function Get-WorkFolder([string[]] $CliArguments) {
    for ($index = 0; $index -lt $CliArguments.Count; $index++) {
        $argument = $CliArguments[$index]
        if ($argument -eq '--workdir' -and $index + 1 -lt $CliArguments.Count) { return $CliArguments[$index + 1] }
        if ($argument -like '--workdir=*') { return $argument.Substring('--workdir='.Length) }
    }
    return (Get-Location).Path
}

# Returns the exit code: himdsproxy's own, or 3 (preflight failed) when Node.js is missing or too old.
function Invoke-HimdsproxyJoin([string[]] $CliArguments) {
    $node = Get-Command node -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
    $minimum = Get-MinimumNodeVersion
    if (-not $node) {
        Write-Host "Node.js is not installed (himdsproxy needs $minimum or newer)."
        Write-Host 'Install the Node.js LTS (winget install OpenJS.NodeJS.LTS, or https://nodejs.org), open a new PowerShell window as Administrator, and run this script again.'
        return 3
    }
    $nodeVersionText = (& $node.Source --version | Out-String).Trim()
    $installed = [version](($nodeVersionText.TrimStart('v') -replace '[-+].*$', ''))
    if ($installed -lt $minimum) {
        Write-Host "Node.js $nodeVersionText is too old: himdsproxy needs $minimum or newer."
        Write-Host 'Install the current Node.js LTS (winget upgrade OpenJS.NodeJS.LTS, or https://nodejs.org), open a new PowerShell window, and run this script again.'
        return 3
    }

    if (Test-Path -LiteralPath $PackageCli) {
        $command = $node.Source
        $commandArguments = @($PackageCli, 'join') + $CliArguments
    } else {
        if (-not (Get-Command npx -ErrorAction SilentlyContinue)) {
            Write-Host "Neither $PackageCli nor npx was found. Run 'npm install' in the himdsproxy folder (it builds the CLI), or reinstall Node.js (npx comes with it)."
            return 1
        }
        # --no-install: only a himdsproxy installed on this machine runs; a package of that name
        # is never fetched from the registry, where anyone could have published one.
        $command = 'npx'
        $commandArguments = @('--no-install', 'himdsproxy', 'join') + $CliArguments
    }
    Write-Host "Running: $command $($commandArguments -join ' ')"

    # A transcript does not record what programs write straight to the console, so the output
    # goes through the pipeline; UTF-8 so the table and arrows arrive intact. Standard error
    # lines arrive as error records: print them as text, and do not let them stop the script.
    $previousOutputEncoding = [Console]::OutputEncoding
    $previousErrorAction = $ErrorActionPreference
    try {
        [Console]::OutputEncoding = [System.Text.Encoding]::UTF8
        $ErrorActionPreference = 'Continue'
        & $command @commandArguments 2>&1 | ForEach-Object { Write-Host ([string]$_) }
        return $LASTEXITCODE
    } finally {
        $ErrorActionPreference = $previousErrorAction
        [Console]::OutputEncoding = $previousOutputEncoding
    }
}

$cliArguments = @($args | ForEach-Object { [string]$_ })
$workFolder = Get-WorkFolder $cliArguments
$transcriptFolder = Join-Path $workFolder 'Logs\himdsproxy'
New-Item -ItemType Directory -Force -Path $transcriptFolder | Out-Null
$transcript = Join-Path $transcriptFolder ('RunAADLoginForWindows-{0}.transcript.log' -f (Get-Date -Format 'yyyyMMddTHHmmss'))
Start-Transcript -LiteralPath $transcript | Out-Null

$exitCode = 1
try {
    $exitCode = Invoke-HimdsproxyJoin $cliArguments
    Write-Host "himdsproxy exited with code $exitCode. Transcript of this console: $transcript"
} finally {
    # Also after Ctrl+C or an error, so the transcript is complete and closed.
    Stop-Transcript | Out-Null
}
exit $exitCode
