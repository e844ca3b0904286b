// The one HTTP client for HIMDS: every upstream call goes through here, with a timeout and classified failures.

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

export interface HimdsClientOptions {
  /** e.g. http://localhost:40342 (a path, if any, is ignored: HIMDS serves at the root). */
  baseUrl: string;
  timeoutMs: number;
  /** Injected in unit tests; the real one is the global fetch. */
  fetch?: typeof fetch;
}

/** Errors that mean nothing listens (or nothing can be reached) at the HIMDS address. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

export class HimdsClient {
  readonly origin: string;
  private readonly fetchImplementation: typeof fetch;

  constructor(private readonly options: HimdsClientOptions) {
    this.origin = new URL(options.baseUrl).origin;
    this.fetchImplementation = options.fetch ?? fetch;
  }

  /**
   * GETs pathAndQuery (starting with "/") from HIMDS. The body is left unread so it can be
   * streamed; read it with `readText`, which keeps the same deadline.
   */
  async get(pathAndQuery: string, headers: Record<string, string>): Promise<UpstreamResponse> {
    const signal = AbortSignal.timeout(this.options.timeoutMs);
    try {
      const response = await this.fetchImplementation(`${this.origin}${pathAndQuery}`, {
        method: 'GET',
        headers,
        signal,
        redirect: 'manual',
      });
      return new UpstreamResponse(response, this.options.timeoutMs);
    } catch (error) {
      throw this.classify(error);
    }
  }

  private classify(error: unknown): UpstreamError {
    if (isTimeout(error)) {
      return new UpstreamError('timeout', `HIMDS at ${this.origin} did not answer within ${this.options.timeoutMs} ms`, { cause: error });
    }
    if (error instanceof Error && error.cause instanceof Error && error.cause.message === 'bad port') {
      // fetch refuses the Fetch standard's "bad ports" (6000, 6667 …) without connecting at all.
      return new UpstreamError('unreachable', `Cannot connect to HIMDS at ${this.origin}: Node's fetch refuses that port; use another`, { cause: error });
    }
    const code = errorCode(error);
    if (code !== undefined && UNREACHABLE_CODES.has(code)) {
      return new UpstreamError('unreachable', `Cannot connect to HIMDS at ${this.origin} (${code})`, { cause: error });
    }
    return new UpstreamError('malformed', `HIMDS at ${this.origin} sent no valid HTTP answer${code ? ` (${code})` : ''}`, { cause: error });
  }
}

/** An answer from HIMDS whose body has not been read yet. */
export class UpstreamResponse {
  constructor(
    readonly raw: Response,
    private readonly timeoutMs: number,
  ) {}

  get status(): number {
    return this.raw.status;
  }

  get headers(): Headers {
    return this.raw.headers;
  }

  /** Reads the whole body; the request's deadline (already running) still applies. */
  async readText(): Promise<string> {
    try {
      return await this.raw.text();
    } catch (error) {
      if (isTimeout(error)) throw new UpstreamError('timeout', `HIMDS did not finish its answer within ${this.timeoutMs} ms`, { cause: error });
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

  /** The same answer with a body already read (after looking at it). */
  withBody(text: string): UpstreamResponse {
    const copy = new Response(text, { status: this.raw.status, statusText: this.raw.statusText, headers: this.raw.headers });
    return new UpstreamResponse(copy, this.timeoutMs);
  }

  /** Frees the connection when the body is not wanted. */
  async discard(): Promise<void> {
    await this.raw.body?.cancel().catch(() => undefined);
  }
}

function isTimeout(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'TimeoutError') return true;
  return error.cause instanceof Error && error.cause.name === 'TimeoutError';
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
