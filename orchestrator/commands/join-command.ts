// `himdsproxy join`: turns parsed arguments into JoinOptions, runs the join, prints its summary.
import { resolve } from 'node:path';
import { defaultTokenDirectory } from '../../core/contract.js';
import { himdsUrlFor } from './himds-url.js';
import { join } from '../join.js';
import { JOIN_DEFAULTS, type JoinOptions } from '../join-options.js';
import { knownDownload } from '../known-handlers.js';
import { createPlatformAdapter } from '../platform/index.js';
import { runPreflight } from '../steps/preflight.js';
import type { CliIo } from './program.js';

export interface JoinArguments {
  workdir?: string;
  handlerUrl?: string;
  handlerZip?: string;
  handlerVersion: string;
  handlerName: string;
  sha256?: string;
  mdmId: string;
  listen: string;
  himds?: string;
  tokenDir?: string;
  allowResource?: string[];
  upstreamTimeout: number;
  timeout: number;
  force: boolean;
  progress?: boolean;
  outboundCheck: boolean;
}

/** What the user typed, plus the environment and the handler catalog, as the join's options; a usage error when they do not add up. */
export function joinOptionsFromArguments(argv: JoinArguments, io: Pick<CliIo, 'env' | 'cwd' | 'stderr'>): JoinOptions {
  return {
    workdir: resolve(io.cwd, argv.workdir ?? '.'),
    handlerName: argv.handlerName,
    handlerVersion: argv.handlerVersion,
    ...handlerSource(argv, io.cwd),
    mdmId: argv.mdmId,
    listen: argv.listen,
    himdsUrl: himdsUrlFor(argv.himds, io.env),
    tokenDirectory: argv.tokenDir ? resolve(io.cwd, argv.tokenDir) : defaultTokenDirectory(),
    allowedResources: argv.allowResource?.length ? argv.allowResource : [...JOIN_DEFAULTS.allowedResources],
    upstreamTimeoutMs: argv.upstreamTimeout,
    timeoutMs: argv.timeout,
    installTimeoutMs: JOIN_DEFAULTS.installTimeoutMs,
    enableTimeoutMs: JOIN_DEFAULTS.enableTimeoutMs,
    force: argv.force,
    showProgress: argv.progress ?? Boolean(io.stderr.isTTY),
    checkOutbound: argv.outboundCheck,
  };
}

/** --handler-zip, else --handler-url, else the catalog's URL (and checksum) for the name and version. */
function handlerSource(argv: JoinArguments, cwd: string): Pick<JoinOptions, 'handlerZip' | 'handlerUrl' | 'sha256'> {
  const sha256 = argv.sha256 ? { sha256: argv.sha256 } : {};
  if (argv.handlerZip) return { handlerZip: resolve(cwd, argv.handlerZip), ...sha256 };
  if (argv.handlerUrl) return { handlerUrl: argv.handlerUrl, ...sha256 };
  const known = knownDownload(argv.handlerName, argv.handlerVersion);
  return { handlerUrl: known.url, ...(argv.sha256 ? sha256 : known.sha256 ? { sha256: known.sha256 } : {}) };
}

export async function runJoinCommand(argv: JoinArguments, io: CliIo): Promise<number> {
  const options = joinOptionsFromArguments(argv, io);
  const platform = createPlatformAdapter();
  const result = await join(options, {
    platform,
    signal: io.signal,
    terminal: io.stderr,
    preflight: (reporter) => runPreflight(options, platform, reporter),
  });
  return result.outcome.exitCode;
}
