// A whole join world on loopback for tests and the demo: work folder, HIMDS emulator, the fake
// handler served over HTTP, and the built `himdsproxy` CLI run as a real child process.
import { execaNode, type ResultPromise } from 'execa';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DownloadServer } from './download-server.js';
import { buildFakeHandlerZip } from './fake-handler-package.js';
import { HimdsEmulator, type HimdsEmulatorOptions } from './himds-emulator.js';

export const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The built CLI, as `npx himdsproxy` runs it. `npm test` builds before it runs the tests. */
export const BUILT_CLI = join(PROJECT_ROOT, 'dist', 'orchestrator', 'cli.js');
export const HANDLER_ZIP_PATH = '/c5073b0b_1.1.0.2.zip';

export interface JoinRunResult {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
}

export class JoinHarness {
  private constructor(
    readonly root: string,
    readonly workdir: string,
    readonly emulator: HimdsEmulator,
    readonly downloads: DownloadServer,
    /** The SHA-256 the next join is told to expect. */
    public zipSha256: string,
    readonly zipBody: Buffer,
  ) {}

  /** Serves another handler zip at the usual URL, and expects its SHA-256 from now on. */
  serveHandlerZip(body: Buffer): void {
    this.downloads.serve(HANDLER_ZIP_PATH, body);
    this.zipSha256 = createHash('sha256').update(body).digest('hex');
  }

  static async start(emulatorOptions: Partial<HimdsEmulatorOptions> = {}): Promise<JoinHarness> {
    if (!existsSync(BUILT_CLI)) throw new Error(`${BUILT_CLI} is missing: run \`npm run build\` first (npm test does).`);
    const root = await mkdtemp(join(tmpdir(), 'himdsproxy-join-'));
    const workdir = join(root, 'work');
    const emulator = await HimdsEmulator.start({ tokenDirectory: join(root, 'tokens'), ...emulatorOptions });
    const zipFile = join(root, 'handler.zip');
    const { sha256 } = await buildFakeHandlerZip(zipFile);
    const zipBody = await readFile(zipFile);
    const downloads = await new DownloadServer().start();
    downloads.serve(HANDLER_ZIP_PATH, zipBody);
    return new JoinHarness(root, workdir, emulator, downloads, sha256, zipBody);
  }

  /** Arguments of a join against this world, on loopback (no address is added). */
  joinArguments(extra: readonly string[] = []): string[] {
    return [
      'join',
      '--workdir', this.workdir,
      '--listen', '127.0.0.1:0',
      '--himds', this.emulator.url,
      '--token-dir', this.emulator.tokenDirectory,
      '--handler-url', this.downloads.url(HANDLER_ZIP_PATH),
      '--sha256', this.zipSha256,
      '--timeout', '20s',
      '--no-progress',
      // Tests reach nothing beyond loopback: no DNS lookups of the Entra hosts.
      '--no-outbound-check',
      ...extra,
    ];
  }

  /** Starts `himdsproxy join` as a child process; the fake handler's behaviour comes from `env`. */
  spawnJoin(extra: readonly string[] = [], env: Record<string, string> = {}): ResultPromise<{ reject: false; all: true }> {
    return execaNode(BUILT_CLI, this.joinArguments(extra), {
      reject: false,
      all: true,
      cwd: this.root,
      env: { FAKE_HANDLER_STEP_MS: '50', ...env },
      extendEnv: true,
      timeout: 60_000,
      // Not this test process's own --import tsx: the CLI under test is plain built JavaScript.
      nodeOptions: [],
    });
  }

  async runJoin(extra: readonly string[] = [], env: Record<string, string> = {}): Promise<JoinRunResult> {
    const result = await this.spawnJoin(extra, env);
    return { exitCode: result.exitCode, stdout: String(result.stdout), stderr: String(result.stderr) };
  }

  path(...parts: string[]): string {
    return join(this.workdir, ...parts);
  }

  async lastRun(): Promise<Record<string, unknown>> {
    return JSON.parse(await readFile(this.path('Logs', 'himdsproxy', 'last-run.json'), 'utf8')) as Record<string, unknown>;
  }

  async close(): Promise<void> {
    await this.downloads.close();
    await this.emulator.stop();
    await rm(this.root, { recursive: true, force: true });
  }
}
