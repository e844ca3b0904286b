// The one HTTP client for HIMDS: every upstream call goes through here, with a timeout and classified failures.
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { text as readStreamText } from 'node:stream/consumers';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';

/** Why HIMDS gave no usable answer; callers branch on `kind`, never on the message. */
export type UpstreamFailureKind = 'unreachable' | 'timeout' | 'malformed';

export class UpstreamError extends Error {
  override readonly name = 'UpstreamError';
  constructor(
    readonly kind: UpstreamFailureKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isUpstreamError(error: unknown): error is UpstreamError {
  return error instanceof UpstreamError;
}

/** What one GET brought back before its body was read. */
export interface UpstreamAnswer {
  status: number;
  headers: Headers;
  body: Readable;
}

/** Sends one GET; injected in in-process tests, Node's own pooled HTTP client otherwise. */
export type UpstreamTransport = (url: string, headers: Record<string, string>) => Promise<UpstreamAnswer>;

export interface HimdsClientOptions {
  /** e.g. http://localhost:40342 (a path, if any, is ignored: HIMDS serves at the root). */
  baseUrl: string;
  timeoutMs: number;
  transport?: UpstreamTransport;
}

/** Errors that mean nothing listens (or nothing can be reached) at the HIMDS address. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);
const TIMEOUT_CODE = 'HIMDS_TIMEOUT';

/**
 * node:http with keep-alive: several times cheaper per call than fetch (every token costs two
 * round trips), and unlike the npm undici it adds nothing to the proxy's memory. The timeout is
 * the socket's idle timeout, so it bounds connecting, waiting for headers and every pause in the
 * body alike: no call can hang.
 */
export function createNodeHttpTransport(timeoutMs: number): UpstreamTransport {
  const agents = {
    'http:': new HttpAgent({ keepAlive: true, maxFreeSockets: 16 }),
    'https:': new HttpsAgent({ keepAlive: true, maxFreeSockets: 16 }),
  };
  return (url, headers) =>
    new Promise<UpstreamAnswer>((resolve, reject) => {
      const protocol = new URL(url).protocol === 'https:' ? 'https:' : 'http:';
      const send = protocol === 'https:' ? httpsRequest : httpRequest;
      let answer: IncomingMessage | undefined;
      const outgoing = send(url, { method: 'GET', headers, agent: agents[protocol], timeout: timeoutMs }, (incoming) => {
        answer = incoming;
        resolve({ status: incoming.statusCode ?? 0, headers: toHeaders(incoming.headers), body: incoming });
      });
      outgoing.on('timeout', () => {
        const timedOut = Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: TIMEOUT_CODE });
        // Once the headers are in, the body's reader must learn why it ended, not just that it did.
        answer?.destroy(timedOut);
        outgoing.destroy(timedOut);
      });
      outgoing.on('error', reject);
      outgoing.end();
    });
}

function toHeaders(incoming: IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(incoming)) {
    if (Array.isArray(value)) for (const item of value) headers.append(name, item);
    else if (value !== undefined) headers.append(name, value);
  }
  return headers;
}

export class HimdsClient {
  readonly origin: string;
  private readonly transport: UpstreamTransport;

  constructor(private readonly options: HimdsClientOptions) {
    this.origin = new URL(options.baseUrl).origin;
    this.transport = options.transport ?? createNodeHttpTransport(options.timeoutMs);
  }

  /**
   * GETs pathAndQuery (starting with "/") from HIMDS. The body is left unread so it can be
   * streamed; read it with `readText`, which has the same timeout.
   */
  async get(pathAndQuery: string, headers: Record<string, string>): Promise<UpstreamResponse> {
    try {
      return new UpstreamResponse(await this.transport(`${this.origin}${pathAndQuery}`, headers), this.options.timeoutMs);
    } catch (error) {
      throw this.classify(error);
    }
  }

  private classify(error: unknown): UpstreamError {
    const code = errorCode(error);
    if (code === TIMEOUT_CODE) {
      return new UpstreamError('timeout', `HIMDS at ${this.origin} did not answer within ${this.options.timeoutMs} ms`, { cause: error });
    }
    if (code !== undefined && UNREACHABLE_CODES.has(code)) {
      return new UpstreamError('unreachable', `Cannot connect to HIMDS at ${this.origin} (${code})`, { cause: error });
    }
    return new UpstreamError('malformed', `HIMDS at ${this.origin} sent no valid HTTP answer${code ? ` (${code})` : ''}`, { cause: error });
  }
}

/** An answer from HIMDS whose body has not been read yet. */
export class UpstreamResponse {
  constructor(
    private readonly answer: UpstreamAnswer,
    private readonly timeoutMs: number,
    /** Set once the body has been read and looked at (withBody). */
    private readonly bodyText?: string,
  ) {}

  get status(): number {
    return this.answer.status;
  }

  get headers(): Headers {
    return this.answer.headers;
  }

  /** Reads the whole body; a stall longer than the timeout fails as a timeout. */
  async readText(): Promise<string> {
    if (this.bodyText !== undefined) return this.bodyText;
    try {
      return await readStreamText(this.answer.body);
    } catch (error) {
      if (errorCode(error) === TIMEOUT_CODE) {
        throw new UpstreamError('timeout', `HIMDS did not finish its answer within ${this.timeoutMs} ms`, { cause: error });
      }
      throw new UpstreamError('malformed', 'HIMDS broke off its answer', { cause: error });
    }
  }

  /** Reads the body as JSON; anything else is a malformed answer. */
  async readJson(): Promise<unknown> {
    const text = await this.readText();
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      throw new UpstreamError('malformed', `HIMDS answered ${this.status} with a body that is not JSON`, { cause: error });
    }
  }

  /** The body as a web stream, for answers passed on without being read here. */
  bodyStream(): WebReadableStream<Uint8Array> {
    const source = this.bodyText === undefined ? this.answer.body : Readable.from([Buffer.from(this.bodyText)]);
    return Readable.toWeb(source) as WebReadableStream<Uint8Array>;
  }

  /** The same answer with a body already read (after looking at it). */
  withBody(text: string): UpstreamResponse {
    return new UpstreamResponse(this.answer, this.timeoutMs, text);
  }

  /** Frees the connection when the body is not wanted (reading it out keeps the connection reusable). */
  async discard(): Promise<void> {
    if (this.bodyText !== undefined) return;
    try {
      for await (const chunk of this.answer.body) void chunk;
    } catch {
      // A broken body of an answer nobody wants changes nothing.
    }
  }
}

function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = current.cause;
  }
  return undefined;
}
