// The command-line grammar: commands, options, help and examples; each command runs and returns its exit code.
import yargs, { type Argv } from 'yargs';
import {
  DEFAULT_HIMDS_URL,
  DEFAULT_LISTEN,
  DEFAULT_UPSTREAM_TIMEOUT_MS,
  ENTRA_DEVICE_REGISTRATION_RESOURCE,
  himdsOrigin,
  parseListenAddress,
} from '../../core/contract.js';
import { parseDuration } from '../duration.js';
import { EXIT_CODES, HimdsproxyError } from '../errors.js';
import { JOIN_DEFAULTS } from '../join-options.js';
import { runDoctorCommand } from './doctor-command.js';
import { runJoinCommand } from './join-command.js';
import { runServeCommand } from './serve-command.js';

const EXIT_CODES_TEXT =
  'Exit codes: 0 ok · 1 internal error · 2 usage · 3 preflight failed · 4 package failed · 5 proxy failed · 6 handler error · 7 timed out · 130 interrupted';
const JOIN_EPILOGUE =
  'Run it as Administrator on the Arc-enabled server. Safe to rerun until it succeeds; an already joined machine exits 0 at once. ' +
  'Logs: Logs/himdsproxy/<run-id>/ (join.log, proxy.log, handler.log) and Logs/himdsproxy/last-run.json in the work folder.';

export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown; isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Aborted on Ctrl+C / SIGTERM. */
  signal: AbortSignal;
}

/** Options shared by every command that talks to HIMDS or starts the proxy. */
function proxyOptions<T>(command: Argv<T>, allowResourceHelp: string) {
  return command
    .option('listen', {
      type: 'string',
      default: DEFAULT_LISTEN,
      describe: 'Address the proxy listens on (HOST:PORT; port 0 picks a free one)',
      coerce: (value: string) => {
        if (!parseListenAddress(value)) throw new UsageError(`--listen must be HOST:PORT (e.g. ${DEFAULT_LISTEN}), got '${value}'`);
        return value;
      },
    })
    .option('himds', {
      type: 'string',
      describe: 'HIMDS base URL [default: $IMDS_ENDPOINT, $IDENTITY_ENDPOINT, http://localhost:40342]',
      coerce: (value: string) => {
        const origin = himdsOrigin(value);
        if (origin === undefined) throw new UsageError(`--himds must be an http(s) URL such as ${DEFAULT_HIMDS_URL}, got '${value}'`);
        return origin;
      },
    })
    .option('token-dir', {
      type: 'string',
      describe: "Folder the agent's challenge key files must be in [default: the Arc agent's Tokens folder]",
    })
    .option('allow-resource', {
      type: 'string',
      array: true,
      describe: allowResourceHelp,
    })
    .option('upstream-timeout', {
      type: 'number',
      default: DEFAULT_UPSTREAM_TIMEOUT_MS,
      describe: 'Milliseconds to wait for HIMDS before answering 504',
      coerce: (value: number) => checkPositive('--upstream-timeout', value),
    });
}

export async function runCli(args: readonly string[], io: CliIo): Promise<number> {
  let exitCode: number = EXIT_CODES.ok;
  const parser = yargs([...args])
    .scriptName('himdsproxy')
    .usage('$0 <command> [options]\n\nAzure IMDS for Azure Arc-enabled servers, and the AADLoginForWindows join that needs it.')
    .command(
      'join',
      'Microsoft Entra join this Arc-enabled Windows Server with the AADLoginForWindows handler',
      (command) =>
        proxyOptions(command, `Token resource the handler may get (repeatable) [default: ${ENTRA_DEVICE_REGISTRATION_RESOURCE}]`)
          .option('workdir', { type: 'string', describe: 'Work folder for Packages/ and Logs/ [default: current folder]' })
          .option('handler-url', { type: 'string', describe: 'Download the handler zip from here (HTTPS)', coerce: (value: string) => checkHttpUrl('--handler-url', value) })
          .option('handler-zip', { type: 'string', describe: 'Use this local handler zip instead of downloading' })
          .option('handler-version', { type: 'string', default: JOIN_DEFAULTS.handlerVersion, describe: 'Handler version (names the package folder)' })
          .option('handler-name', { type: 'string', default: JOIN_DEFAULTS.handlerName, describe: 'Handler <Publisher>.<Type>' })
          .option('sha256', { type: 'string', describe: 'Expected SHA-256 of the handler zip', coerce: checkSha256 })
          .option('mdm-id', { type: 'string', default: JOIN_DEFAULTS.mdmId, describe: 'Public setting mdmId (Intune: 0000000a-0000-0000-c000-000000000000)' })
          .option('timeout', { type: 'string', default: '10m', describe: 'How long to wait for the handler to succeed or fail (90s, 10m, 1h)', coerce: (value: string) => checkDuration('--timeout', value) })
          .option('force', { type: 'boolean', default: false, describe: 'Run even if already joined; take 169.254.169.254 from another metadata service for the join' })
          .option('outbound-check', { type: 'boolean', default: true, describe: 'Test DNS and HTTPS reachability of the Entra hosts first (--no-outbound-check skips it, e.g. behind an HTTP proxy)' })
          .option('progress', { type: 'boolean', describe: 'Show a download progress bar [default: when on a terminal]' })
          .conflicts('handler-url', 'handler-zip')
          .group(['handler-url', 'handler-zip', 'handler-version', 'handler-name', 'sha256', 'progress'], 'Handler package:')
          .group(['mdm-id', 'timeout', 'force', 'workdir', 'outbound-check'], 'Join:')
          .group(['listen', 'himds', 'token-dir', 'allow-resource', 'upstream-timeout'], 'Proxy:')
          .epilogue(`${JOIN_EPILOGUE}\n\n${EXIT_CODES_TEXT}`)
          .example('$0 join', 'Join with AADLoginForWindows 1.1.0.2 from its known URL')
          .example('$0 join --handler-zip .\\AADLoginForWindows_1.1.0.2.zip --sha256 <hex>', 'Join with a handler zip you downloaded and checked')
          .example('$0 join --mdm-id 0000000a-0000-0000-c000-000000000000', 'Join and enrol in Intune')
          .example('$0 join --listen 127.0.0.1:8080 --himds http://127.0.0.1:40342', 'Try it on loopback without adding 169.254.169.254'),
      async (argv) => {
        exitCode = await runJoinCommand(argv, io);
      },
    )
    .command(
      'serve',
      'Run the proxy alone: Azure IMDS at --listen, served from HIMDS',
      (command) =>
        proxyOptions(command, 'Token resource callers may get (repeatable) [default: every resource]')
          .option('access-log', { type: 'string', describe: 'Append the access log to this file [default: standard output]' })
          .example('$0 serve', 'Serve at 169.254.169.254:80 (the address must already be on an interface)')
          .example('$0 serve --listen 127.0.0.1:8080 --allow-resource https://management.azure.com/', 'Serve on loopback, tokens for Azure Resource Manager only')
          .epilogue(
            'While it runs, any local process can get tokens for this machine\'s identity: run it only as long as needed, and narrow --allow-resource. ' +
              'Exit codes: 0 stopped (Ctrl+C, SIGTERM) · 2 usage · 5 cannot listen, or the proxy failed.',
          ),
      async (argv) => {
        exitCode = await runServeCommand(argv, io);
      },
    )
    .command(
      'doctor',
      'Check this machine for a join, change nothing, and say how to fix what fails',
      (command) =>
        proxyOptions(command, 'Token resource to test (repeatable)')
          .option('workdir', { type: 'string', describe: 'Work folder to check [default: current folder]' })
          .option('json', { type: 'boolean', default: false, describe: 'Print the results as JSON' })
          .option('outbound-check', { type: 'boolean', default: true, describe: 'Test DNS and HTTPS reachability of the Entra hosts (--no-outbound-check skips it)' })
          .option('force', { type: 'boolean', default: false, describe: 'As with join: a foreign metadata service on the address is only a warning' })
          .example('$0 doctor', 'Run every check and print a table')
          .example('$0 doctor --json', 'The same, as JSON for scripts')
          .epilogue('Changes nothing. Exit codes: 0 no check failed (warnings allowed) · 2 usage · 3 a check failed.'),
      async (argv) => {
        exitCode = await runDoctorCommand(argv, io);
      },
    )
    .demandCommand(1, 'Name a command: join, serve or doctor')
    .strict()
    // A repeated single-valued option means its last value, as in most CLIs (repeatable ones are arrays).
    .parserConfiguration({ 'duplicate-arguments-array': false })
    .help()
    .alias('help', 'h')
    .version()
    .epilogue(EXIT_CODES_TEXT)
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .exitProcess(false)
    .fail((message, error) => {
      // Option checks (coerce) reach here wrapped in yargs' own YError; anything else is a real failure.
      if (error && !(error instanceof UsageError) && error.name !== 'YError') throw error;
      // Throwing (not returning) is what stops yargs from running the command after a usage error.
      throw new UsageError(message ?? error?.message ?? 'invalid arguments');
    });

  try {
    await parser.parseAsync();
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`himdsproxy: ${error.message}\nRun 'himdsproxy --help' for usage.\n`);
      return EXIT_CODES.usage;
    }
    if (error instanceof HimdsproxyError) {
      io.stderr.write(`himdsproxy: ${error.message}${error.fix ? `\nFix: ${error.fix}` : ''}\n`);
      return error.exitCode;
    }
    throw error;
  }
  return exitCode;
}

/** Errors raised while checking options; yargs reports them as usage errors (exit 2). */
class UsageError extends Error {}

function checkHttpUrl(flag: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${flag} must be a URL, got '${value}'`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`${flag} must be an http(s) URL, got '${url.protocol}'`);
  return value;
}

function checkSha256(value: string): string {
  if (!/^[0-9a-f]{64}$/i.test(value.trim())) throw new UsageError(`--sha256 must be 64 hexadecimal characters, got '${value}'`);
  return value.trim().toLowerCase();
}

function checkDuration(flag: string, value: string): number {
  const milliseconds = parseDuration(value);
  if (milliseconds === undefined) throw new UsageError(`${flag} must be a duration such as 90s, 10m or 1h, got '${value}'`);
  return milliseconds;
}

function checkPositive(flag: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new UsageError(`${flag} must be a positive number, got '${value}'`);
  return value;
}
