// `npm run bench`: autocannon against the HIMDS emulator, direct and through the built proxy, in one run;
// prints throughput, latency, the proxied/direct ratio, the proxy's spawn-to-ready time and its memory.
import { access, mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runLoad, type LoadSettings, type Target, type Workload } from './load.js';
import { residentMemoryMiB, startEmulatorProcess, startProxyProcess, type ServerProcess } from './processes.js';
import { formatLoadTable, formatVerdict, type Measurements, type ProcessFigures } from './report.js';

const PROXY_MAIN = fileURLToPath(new URL('../../dist/core/main.js', import.meta.url));
const READY_SAMPLES = 3;
const WARMUP_SECONDS = 1;

function positiveIntegerFromEnvironment(name: string, fallback: number): number {
  const value = Number(process.env[name]);
  return Number.isInteger(value) && value > 0 ? value : fallback;
}

const settings: LoadSettings = {
  connections: positiveIntegerFromEnvironment('BENCH_CONNECTIONS', 10),
  durationSeconds: positiveIntegerFromEnvironment('BENCH_DURATION', 5),
};

async function startProxyMeasuringReadiness(emulatorUrl: string, tokenDirectory: string, scratch: string): Promise<{ proxy: ServerProcess; readyMs: number[] }> {
  const options = {
    listen: '127.0.0.1:0',
    himdsUrl: emulatorUrl,
    tokenDirectory,
    allowedResources: [],
    upstreamTimeoutMs: 5000,
    accessLogFile: join(scratch, 'access.log'),
  };
  const readyMs: number[] = [];
  for (let sample = 1; sample < READY_SAMPLES; sample++) {
    const probe = await startProxyProcess(PROXY_MAIN, options);
    readyMs.push(probe.readyMs);
    await probe.stop();
  }
  const proxy = await startProxyProcess(PROXY_MAIN, options);
  readyMs.push(proxy.readyMs);
  return { proxy, readyMs };
}

async function main(): Promise<void> {
  console.log(
    `himdsproxy benchmark: ${settings.connections} connections, ${settings.durationSeconds} s per run ` +
      `(+${WARMUP_SECONDS} s warm-up), ${cpus().length} CPUs, Node ${process.version}, loopback only`,
  );
  const scratch = await mkdtemp(join(tmpdir(), 'himdsproxy-bench-'));
  const tokenDirectory = join(scratch, 'tokens');
  let emulator: ServerProcess | undefined;
  let proxy: ServerProcess | undefined;
  try {
    emulator = await startEmulatorProcess(tokenDirectory);
    let proxyFigures: ProcessFigures | undefined;
    const proxyBuilt = await access(PROXY_MAIN).then(() => true, () => false);
    if (proxyBuilt) {
      const started = await startProxyMeasuringReadiness(emulator.url, tokenDirectory, scratch);
      proxy = started.proxy;
      proxyFigures = { readyMs: started.readyMs };
      const idle = await residentMemoryMiB(proxy.pid);
      if (idle !== undefined) proxyFigures.idleResidentMiB = idle.rss;
    } else {
      console.log(`No built proxy at ${PROXY_MAIN}: measuring the emulator alone. Run \`npm run build\` first.`);
    }

    const urls: Partial<Record<Target, string>> = { direct: emulator.url, proxied: proxy?.url };
    const measurements: Measurements = {};
    for (const workload of ['instance', 'token'] as const satisfies Workload[]) {
      for (const target of ['direct', 'proxied'] as const satisfies Target[]) {
        const url = urls[target];
        if (url === undefined) continue;
        await runLoad(url, workload, target, { ...settings, durationSeconds: WARMUP_SECONDS });
        measurements[`${workload}:${target}`] = await runLoad(url, workload, target, settings);
      }
    }
    if (proxy !== undefined && proxyFigures !== undefined) {
      const memory = await residentMemoryMiB(proxy.pid);
      if (memory !== undefined) proxyFigures.residentMiB = memory;
    }

    console.log('');
    console.log(formatLoadTable(measurements));
    console.log('');
    console.log(formatVerdict(measurements, proxyFigures));
  } finally {
    await proxy?.stop();
    await emulator?.stop();
    await rm(scratch, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(`Benchmark failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
