// Which download URLs the package step accepts, and how a URL may appear in logs and errors.
import { isLoopbackHost } from '../../../core/contract.js';

/** Why a URL was refused; the caller turns it into a user-facing error. */
export class RefusedUrlError extends Error {
  override readonly name = 'RefusedUrlError';
}

/**
 * HTTPS only: the package runs as LocalSystem, so it must not come over a channel anyone on
 * the path can rewrite. Plain http is allowed for loopback hosts because tests and the demo
 * serve packages from 127.0.0.1, and nothing on the wire can tamper with loopback traffic.
 */
export function checkDownloadUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new RefusedUrlError(`'${redactUrlText(text)}' is not an absolute URL`);
  }
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:') {
    if (isLoopbackHost(url.hostname)) return url;
    throw new RefusedUrlError(`${redactUrl(url)} uses plain http; only https is allowed (http only for loopback hosts)`);
  }
  throw new RefusedUrlError(`${redactUrl(url)} uses ${url.protocol.replace(/:$/, '')}; only https is allowed`);
}

/**
 * The URL without user info, query or fragment: blob URLs carry SAS tokens in the query,
 * and those are secrets.
 */
export function redactUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/** Same as redactUrl for text that may not even parse as a URL. */
export function redactUrlText(text: string): string {
  try {
    return redactUrl(new URL(text));
  } catch {
    return text.replace(/[?#].*$/s, '').replace(/\/\/[^/@]*@/, '//');
  }
}
