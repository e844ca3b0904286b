// `himdsproxy doctor`: runs every check against this machine, prints a table or JSON, changes nothing.
import { resolve } from 'node:path';
import { defaultTokenDirectory } from '../../core/contract.js';
import { himdsUrlFor } from './himds-url.js';
import { createDoctorContext } from '../doctor/context.js';
import { doctorExitCode, runDoctor } from '../doctor/doctor.js';
import { renderDoctorJson, renderDoctorTable, summarise } from '../doctor/render.js';
import { createPlatformAdapter } from '../platform/index.js';
import type { CliIo } from './program.js';

export interface DoctorArguments {
  workdir?: string;
  listen: string;
  himds?: string;
  tokenDir?: string;
  json: boolean;
  force: boolean;
  outboundCheck: boolean;
}

export async function runDoctorCommand(argv: DoctorArguments, io: CliIo): Promise<number> {
  const context = createDoctorContext({
    platform: createPlatformAdapter(),
    workdir: resolve(io.cwd, argv.workdir ?? '.'),
    listen: argv.listen,
    himdsUrl: himdsUrlFor(argv.himds, io.env),
    tokenDirectory: argv.tokenDir ? resolve(io.cwd, argv.tokenDir) : defaultTokenDirectory(),
    force: argv.force,
    checkOutbound: argv.outboundCheck,
    env: io.env,
  });
  const results = await runDoctor(context);
  if (argv.json) {
    io.stdout.write(`${renderDoctorJson(results)}\n`);
  } else {
    const width = 'columns' in io.stdout && typeof io.stdout.columns === 'number' ? io.stdout.columns - 1 : undefined;
    io.stdout.write(`${renderDoctorTable(results, width)}\n${summarise(results)}\n`);
  }
  return doctorExitCode(results);
}
