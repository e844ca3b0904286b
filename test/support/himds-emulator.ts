// A faithful fake of the Azure Connected Machine agent's HIMDS (PROTOCOLS.md §2) on a real socket,
// with failure switches and a record of every request it saw. Test support only.
import { mkdir, mkdtemp, rm, rmdir } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ChallengeKeyStore } from './himds-emulator/challenge-keys.js';
import { noFaults, type EmulatorFaults } from './himds-emulator/faults.js';
import { DEFAULT_ARC_MACHINE, type ArcMachineIdentity } from './himds-emulator/instance-metadata.js';
import { answerRequest, errorAnswer, type EmulatorAnswer } from './himds-emulator/routes.js';

export type { EmulatorFaults } from './himds-emulator/faults.js';
export { noFaults } from './himds-emulator/faults.js';
export { arcResourceId, DEFAULT_ARC_MACHINE, type ArcMachineIdentity } from './himds-emulator/instance-metadata.js';

/** The versions a 2024 agent listed in its "Supported are …" answer, in its order. */
export const DEFAULT_SUPPORTED_API_VERSIONS: readonly string[] = ['2021-02-01', '2020-06-01', '2019-11-01', '2019-08-15'];

export interface HimdsEmulatorOptions {
  /** Key files are written here (created if missing). */
  tokenDirectory: string;
  supportedApiVersions?: string[];
  /** false → /metadata/identity/info answers 404, like agents without it. */
  serveIdentityInfo?: boolean;
  /** false → only /metadata/instance itself, no sub-paths. */
  serveInstanceSubpaths?: boolean;
  tenantId?: string;
  /** Anything else about the fake machine (names, ids) that a test wants to pin. */
  machine?: Partial<ArcMachineIdentity>;
  host?: string;
  port?: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  /** Query parameters; a repeated name keeps its last value (see `search` for the raw string). */
  query: Record<string, string>;
  search: string;
  /** Request headers, lower-cased, without Authorization. */
  headers: Record<string, string>;
  /** Whether an Authorization header came; its value is never recorded. */
  hadAuthorization: boolean;
  /** The status answered; null while pending, or when the connection was dropped unanswered. */
  status: number | null;
}

export class HimdsEmulator {
  readonly requests: RecordedRequest[] = [];
  readonly issuedAccessTokens: string[] = [];
  /** Flip these at any time; each request reads them when it is answered. */
  faults: EmulatorFaults = noFaults();
  readonly machine: ArcMachineIdentity;
  readonly tokenDirectory: string;

  #url = '';
  #suspended = false;
  /** Aborted by suspend()/stop() so that slow answers waiting on a timer give up at once. */
  #pendingWaits = new AbortController();

  private constructor(
    private readonly server: Server,
    private readonly keys: ChallengeKeyStore,
    private readonly options: Required<Pick<HimdsEmulatorOptions, 'supportedApiVersions' | 'serveIdentityInfo' | 'serveInstanceSubpaths' | 'host'>>,
    machine: ArcMachineIdentity,
    tokenDirectory: string,
    /** Directories start() made; removed (when empty) by stop(). */
    private readonly createdDirectories: { tokenDirectoryAncestorsCreated: string | undefined; outsideDirectory: string },
  ) {
    this.machine = machine;
    this.tokenDirectory = tokenDirectory;
  }

  static async start(options: HimdsEmulatorOptions): Promise<HimdsEmulator> {
    const tokenDirectory = resolve(options.tokenDirectory);
    const firstCreated = await mkdir(tokenDirectory, { recursive: true, mode: 0o700 });
    const outsideDirectory = await mkdtemp(join(tmpdir(), 'himds-emulator-outside-'));
    const machine: ArcMachineIdentity = {
      ...DEFAULT_ARC_MACHINE,
      ...options.machine,
      ...(options.tenantId === undefined ? {} : { tenantId: options.tenantId }),
    };
    const server = createServer();
    const emulator = new HimdsEmulator(
      server,
      new ChallengeKeyStore(tokenDirectory, outsideDirectory),
      {
        supportedApiVersions: [...(options.supportedApiVersions ?? DEFAULT_SUPPORTED_API_VERSIONS)],
        serveIdentityInfo: options.serveIdentityInfo ?? true,
        serveInstanceSubpaths: options.serveInstanceSubpaths ?? true,
        host: options.host ?? '127.0.0.1',
      },
      machine,
      tokenDirectory,
      { tokenDirectoryAncestorsCreated: firstCreated, outsideDirectory },
    );
    server.on('request', (request: IncomingMessage, response: ServerResponse) => {
      void emulator.handle(request, response);
    });
    try {
      await emulator.listen(options.port ?? 0);
    } catch (error) {
      await emulator.stop();
      throw error;
    }
    return emulator;
  }

  /** http://HOST:PORT, no trailing slash. */
  get url(): string {
    return this.#url;
  }

  get port(): number {
    return Number(new URL(this.#url).port);
  }

  /** Every key-file secret written so far (for absence checks: `expect(log.includes(secret)).to.equal(false)`). */
  get issuedSecrets(): readonly string[] {
    return this.keys.issuedSecrets;
  }

  /** Challenges whose key file is still waiting to be used. */
  get outstandingChallenges(): number {
    return this.keys.outstanding;
  }

  /** Stop listening but keep the port, to simulate the agent being down. */
  async suspend(): Promise<void> {
    if (this.#suspended) return;
    this.#suspended = true;
    await this.closeServer();
  }

  /** Listen again on the same port after suspend(). */
  async resume(): Promise<void> {
    if (!this.#suspended) return;
    await this.listen(this.port);
    this.#suspended = false;
  }

  async stop(): Promise<void> {
    if (!this.#suspended && this.server.listening) await this.closeServer();
    this.#suspended = true;
    await this.keys.removeAll();
    await rm(this.createdDirectories.outsideDirectory, { recursive: true, force: true });
    await removeEmptyDirectoriesUpTo(this.tokenDirectory, this.createdDirectories.tokenDirectoryAncestorsCreated);
  }

  private async listen(port: number): Promise<void> {
    await new Promise<void>((resolveListen, rejectListen) => {
      this.server.once('error', rejectListen);
      this.server.listen(port, this.options.host, () => {
        this.server.off('error', rejectListen);
        resolveListen();
      });
    });
    const address = this.server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    this.#url = `http://${host}:${address.port}`;
  }

  private async closeServer(): Promise<void> {
    this.#pendingWaits.abort();
    this.#pendingWaits = new AbortController();
    const closed = new Promise<void>((resolveClose) => this.server.close(() => resolveClose()));
    this.server.closeAllConnections();
    await closed;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://himds.invalid');
    const { authorization, ...otherHeaders } = request.headers;
    const record: RecordedRequest = {
      method: request.method ?? '',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      search: url.search,
      headers: Object.fromEntries(Object.entries(otherHeaders).map(([name, value]) => [name, String(value)])),
      hadAuthorization: authorization !== undefined,
      status: null,
    };
    this.requests.push(record);

    if (this.faults.slow > 0) {
      const waited = await delay(this.faults.slow, true, { signal: this.#pendingWaits.signal }).catch(() => false);
      if (!waited) {
        request.socket.destroy();
        return;
      }
    }
    if (this.faults.dropConnection) {
      request.socket.destroy();
      return;
    }
    let answer: EmulatorAnswer;
    try {
      answer = this.faults.status500
        ? errorAnswer(500, 'server_error', 'The agent failed to process the request (emulated fault)')
        : await answerRequest(
            {
              method: record.method,
              url,
              metadataHeader: headerValue(request.headers.metadata),
              authorization,
            },
            {
              machine: this.machine,
              ...this.options,
              faults: this.faults,
              keys: this.keys,
              onTokenIssued: (accessToken) => this.issuedAccessTokens.push(accessToken),
            },
          );
    } catch (error) {
      answer = errorAnswer(500, 'server_error', `Emulator failure: ${(error as Error).message}`);
    }
    answer = this.applyAnswerFaults(answer);
    if (response.destroyed) return;
    record.status = answer.status;
    response.writeHead(answer.status, answer.headers);
    response.end(answer.body);
  }

  private applyAnswerFaults(answer: EmulatorAnswer): EmulatorAnswer {
    const isJsonSuccess = answer.status === 200 && answer.headers['content-type']?.startsWith('application/json') === true;
    if (!isJsonSuccess) return answer;
    let { body, headers } = answer;
    if (this.faults.malformedJson) body = body.slice(0, Math.max(1, Math.floor(body.length / 2)));
    if (this.faults.notJsonContentType) headers = { ...headers, 'content-type': 'text/plain; charset=utf-8' };
    return { ...answer, body, headers };
  }
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Removes tokenDirectory and its parents up to the first one mkdir created, each only if empty. */
async function removeEmptyDirectoriesUpTo(directory: string, firstCreated: string | undefined): Promise<void> {
  if (firstCreated === undefined) return;
  let current = directory;
  for (;;) {
    try {
      await rmdir(current);
    } catch {
      return;
    }
    if (current === firstCreated) return;
    const parent = dirname(current);
    if (parent === current) return;
    current = parent;
  }
}
