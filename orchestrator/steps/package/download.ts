// Downloading the handler zip: URL policy, redirects, retries with backoff, timeout, progress.
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { setTimeout as sleep } from 'node:timers/promises';
import { EnvHttpProxyAgent, fetch, type Response } from 'undici';
import { EXIT_CODES, HimdsproxyError } from '../../errors.js';
import type { Reporter } from '../../reporter.js';
import { createDownloadProgress, formatMiB, type DownloadProgress } from './download-progress.js';
import { RefusedUrlError, checkDownloadUrl, redactUrl } from './url-policy.js';

export interface DownloadOptions {
  /** Bounds the whole download, retries and their pauses included. */
  timeoutMs: number;
  /** Further attempts after the first, on network errors and 5xx answers. */
  retries: number;
  /** Pause before the first retry; doubles for each later one. */
  retryDelayMs: number;
  showProgress: boolean;
  /** Aborted on Ctrl+C. */
  signal?: AbortSignal;
  /** Refuse bodies larger than this. */
  maxBytes?: number;
  /** How long one attempt may wait for the answer's headers before it counts as failed (and is retried). */
  answerTimeoutMs?: number;
}

/** A proxy or server that accepts the connection and then says nothing must not use up the whole timeout. */
const DEFAULT_ANSWER_TIMEOUT_MS = 30_000;

const MAX_REDIRECTS = 5;
const MAX_RETRY_DELAY_MS = 30_000;
const DEFAULT_MAX_BYTES = 1024 * 1024 * 1024;

/** One attempt's failure; `retryable` says whether trying again can help. */
class AttemptFailure extends Error {
  constructor(message: string, readonly retryable: boolean, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * Downloads `urlText` into `destination` (created or truncated). On any failure the
 * partial file is removed and a HimdsproxyError is thrown; messages never contain the
 * URL's query, which may hold a SAS token.
 */
export async function downloadToFile(
  urlText: string,
  destination: string,
  reporter: Reporter,
  options: DownloadOptions,
): Promise<{ bytes: number }> {
  const url = checkPackageUrl(urlText);
  const shown = redactUrl(url);
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const progress = createDownloadProgress(reporter, options.showProgress);
  const attempts = options.retries + 1;
  try {
    for (let attempt = 1; ; attempt += 1) {
      try {
        reporter.info(`Downloading ${shown}${attempt > 1 ? ` (attempt ${attempt} of ${attempts})` : ''}`);
        const bytes = await attemptDownload(url, destination, signal, progress, options.maxBytes ?? DEFAULT_MAX_BYTES, options.answerTimeoutMs ?? DEFAULT_ANSWER_TIMEOUT_MS);
        progress.stop();
        reporter.info(`Downloaded ${formatMiB(bytes)} from ${shown}`);
        return { bytes };
      } catch (error) {
        progress.stop();
        if (options.signal?.aborted) throw interrupted(shown, error);
        if (timeout.aborted) throw timedOut(shown, options.timeoutMs, error);
        if (!(error instanceof AttemptFailure)) throw error;
        if (!error.retryable || attempt >= attempts) {
          throw new HimdsproxyError(
            `Download of ${shown} failed: ${error.message}${attempt > 1 ? ` (after ${attempt} attempts)` : ''}`,
            EXIT_CODES.packageFailed,
            'Check the URL and this machine\'s outbound HTTPS access, or download the zip yourself and pass --handler-zip.',
            { cause: error },
          );
        }
        const delay = Math.min(options.retryDelayMs * 2 ** (attempt - 1), MAX_RETRY_DELAY_MS);
        reporter.warn(`Download of ${shown} failed: ${error.message}; retrying in ${(delay / 1000).toFixed(1)} s`);
        try {
          await sleep(delay, undefined, { signal });
        } catch (sleepError) {
          if (options.signal?.aborted) throw interrupted(shown, sleepError);
          throw timedOut(shown, options.timeoutMs, sleepError);
        }
      }
    }
  } catch (error) {
    await rm(destination, { force: true });
    throw error;
  }
}

/** The URL policy as a usage error; the package step also calls it up front, before touching the work folder. */
export function checkPackageUrl(urlText: string): URL {
  try {
    return checkDownloadUrl(urlText);
  } catch (error) {
    if (!(error instanceof RefusedUrlError)) throw error;
    throw new HimdsproxyError(`Refusing to download the handler package: ${error.message}`, EXIT_CODES.usage, 'Pass an https:// URL with --handler-url.');
  }
}

/**
 * Arc-enabled servers often reach the internet only through a proxy, and Node's own fetch ignores
 * HTTPS_PROXY / HTTP_PROXY / NO_PROXY: undici's EnvHttpProxyAgent honours them.
 */
let dispatcher: EnvHttpProxyAgent | undefined;
function proxyAwareDispatcher(): EnvHttpProxyAgent {
  dispatcher ??= new EnvHttpProxyAgent();
  return dispatcher;
}

/** One attempt, following redirects (each hop checked against the URL policy). */
async function attemptDownload(
  initialUrl: URL,
  destination: string,
  signal: AbortSignal,
  progress: DownloadProgress,
  maxBytes: number,
  answerTimeoutMs: number,
): Promise<number> {
  let url = initialUrl;
  for (let hop = 0; ; hop += 1) {
    let response: Response;
    // Only the wait for headers is bounded here; the body is bounded by the overall timeout.
    const noAnswer = new AbortController();
    const answerTimer = setTimeout(() => noAnswer.abort(), answerTimeoutMs);
    try {
      // Redirects are followed by hand: fetch would follow an https→http hop unchecked.
      // identity: the zip is already compressed, and the length check below compares raw bytes.
      response = await fetch(url, {
        redirect: 'manual',
        signal: AbortSignal.any([signal, noAnswer.signal]),
        headers: { 'accept-encoding': 'identity', 'user-agent': 'himdsproxy' },
        dispatcher: proxyAwareDispatcher(),
      });
    } catch (error) {
      if (noAnswer.signal.aborted && !signal.aborted) {
        throw new AttemptFailure(`no answer within ${Number((answerTimeoutMs / 1000).toFixed(1))} s`, true, { cause: error });
      }
      throw new AttemptFailure(networkErrorText(error), true, { cause: error });
    } finally {
      clearTimeout(answerTimer);
    }
    if (response.status >= 300 && response.status < 400 && response.headers.has('location')) {
      await response.body?.cancel().catch(() => undefined);
      if (hop >= MAX_REDIRECTS) throw new AttemptFailure(`more than ${MAX_REDIRECTS} redirects`, false);
      const next = new URL(response.headers.get('location') ?? '', url);
      try {
        url = checkDownloadUrl(next.href);
      } catch (error) {
        throw new AttemptFailure(`redirected to a refused URL: ${(error as Error).message}`, false, { cause: error });
      }
      continue;
    }
    if (!response.ok) {
      await response.body?.cancel().catch(() => undefined);
      throw new AttemptFailure(`HTTP ${response.status}`, response.status >= 500);
    }
    return saveBody(response, destination, signal, progress, maxBytes);
  }
}

async function saveBody(
  response: Response,
  destination: string,
  signal: AbortSignal,
  progress: DownloadProgress,
  maxBytes: number,
): Promise<number> {
  const lengthHeader = response.headers.get('content-length');
  // A server that encodes anyway makes Content-Length count encoded bytes; fetch hands us decoded ones.
  const encoded = (response.headers.get('content-encoding') ?? 'identity').toLowerCase() !== 'identity';
  const expectedBytes = !encoded && lengthHeader !== null && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
  if (expectedBytes !== undefined && expectedBytes > maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw new AttemptFailure(`the server announced ${formatMiB(expectedBytes)}, more than the ${formatMiB(maxBytes)} allowed`, false);
  }
  if (!response.body) throw new AttemptFailure('the answer has no body', true);
  let receivedBytes = 0;
  progress.start(expectedBytes);
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      receivedBytes += chunk.length;
      if (receivedBytes > maxBytes) {
        callback(new AttemptFailure(`the body exceeds the ${formatMiB(maxBytes)} allowed`, false));
        return;
      }
      progress.update(receivedBytes);
      callback(null, chunk);
    },
  });
  try {
    await pipeline(
      Readable.fromWeb(response.body as WebReadableStream<Uint8Array>),
      counter,
      createWriteStream(destination),
      { signal },
    );
  } catch (error) {
    if (error instanceof AttemptFailure) throw error;
    throw new AttemptFailure(`the connection broke after ${receivedBytes} bytes (${networkErrorText(error)})`, true, { cause: error });
  }
  if (expectedBytes !== undefined && receivedBytes !== expectedBytes) {
    throw new AttemptFailure(`received ${receivedBytes} of ${expectedBytes} bytes`, true);
  }
  return receivedBytes;
}

/** fetch reports "fetch failed" and hides the reason in `cause`; show the reason (never a URL). */
function networkErrorText(error: unknown): string {
  const cause = (error as { cause?: unknown })?.cause;
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  if (code) return code;
  const message = cause instanceof Error ? cause.message : error instanceof Error ? error.message : String(error);
  return message.replace(/https?:\/\/\S+/g, '<url>');
}

function interrupted(shown: string, cause: unknown): HimdsproxyError {
  return new HimdsproxyError(`Download of ${shown} was interrupted`, EXIT_CODES.interrupted, undefined, { cause });
}

function timedOut(shown: string, timeoutMs: number, cause: unknown): HimdsproxyError {
  return new HimdsproxyError(
    `Download of ${shown} timed out after ${Number((timeoutMs / 1000).toFixed(1))} s`,
    EXIT_CODES.packageFailed,
    'Check this machine\'s outbound HTTPS access, or download the zip yourself and pass --handler-zip.',
    { cause },
  );
}
