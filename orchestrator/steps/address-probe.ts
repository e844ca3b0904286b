// Who, if anyone, already answers HTTP at the metadata address: decided by real requests, within a short deadline.
import { request, type IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { PROXY_SERVER_HEADER } from '../../core/contract.js';

export type AddressOccupant =
  | { kind: 'free' }
  | { kind: 'azure-imds' }
  | { kind: 'aws-imds' }
  | { kind: 'himdsproxy' }
  /** `server`: the product token of its Server header, when it sent one (e.g. "microsoft-httpapi"). */
  | { kind: 'other'; detail: string; server?: string };

/** Both requests together; a free address on a network that drops packets costs exactly this. */
export const DEFAULT_PROBE_TIMEOUT_MS = 1_500;

/** Enough for any IMDS instance document; a hostile endless body is cut here. */
const MAX_BODY_BYTES = 64 * 1024;

type Exchange =
  | { kind: 'unreachable' }
  | { kind: 'silent' }
  | { kind: 'broken'; reason: string }
  | { kind: 'response'; status: number; headers: IncomingHttpHeaders; body: string };

/**
 * One HTTP request, never throwing. "Connected" is tracked separately from "answered": a port that
 * refuses or never completes the TCP handshake is free, one that accepts and then stays silent is held.
 */
function exchange(
  host: string,
  port: number,
  method: 'GET' | 'PUT',
  path: string,
  headers: Record<string, string>,
  deadline: number,
): Promise<Exchange> {
  return new Promise((resolve) => {
    let connected = false;
    let settled = false;
    const chunks: Buffer[] = [];
    let received = 0;
    let response: { status: number; headers: IncomingHttpHeaders } | undefined;

    const finish = (outcome: Exchange): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(outcome);
    };
    const answered = (): void => finish({ kind: 'response', ...response!, body: Buffer.concat(chunks).toString('utf8') });

    const req = request({
      hostname: host.replace(/^\[(.*)\]$/, '$1'),
      port,
      method,
      path,
      headers: { ...headers, Connection: 'close' },
      agent: false,
    });
    const timer = setTimeout(() => {
      if (response) answered();
      else finish(connected ? { kind: 'silent' } : { kind: 'unreachable' });
    }, Math.max(0, deadline - Date.now()));

    req.on('socket', (socket: Socket) => {
      if (!socket.connecting) connected = true;
      else socket.once('connect', () => (connected = true));
    });
    req.on('response', (incoming) => {
      response = { status: incoming.statusCode ?? 0, headers: incoming.headers };
      incoming.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received <= MAX_BODY_BYTES) chunks.push(chunk);
        else answered();
      });
      incoming.on('end', answered);
      incoming.on('error', answered);
      incoming.on('aborted', answered);
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (response) answered();
      else if (!connected || NOBODY_THERE.has(error.code ?? '')) finish({ kind: 'unreachable' });
      else if (error.code?.startsWith('HPE_')) finish({ kind: 'broken', reason: 'answers, but not with HTTP' });
      else finish({ kind: 'broken', reason: `accepted the connection, then closed it without answering (${error.code ?? error.message})` });
    });
    req.end();
  });
}

/**
 * Connect errors that mean nothing listens there. Checked by code as well as by the connected flag,
 * because some network stacks report the socket as connected before failing the connect.
 */
const NOBODY_THERE = new Set(['ECONNREFUSED', 'ENETUNREACH', 'EHOSTUNREACH', 'EADDRNOTAVAIL', 'ETIMEDOUT']);

function serverOf(headers: IncomingHttpHeaders): string | undefined {
  const server = headers.server;
  return typeof server === 'string' && server.trim() !== '' ? server.trim() : undefined;
}

/** The product token of a Server header ("himdsproxy/0.1.0" → "himdsproxy"), lower-cased. */
function serverProduct(headers: IncomingHttpHeaders): string | undefined {
  return serverOf(headers)?.split(/[\s/]/)[0]?.toLowerCase();
}

function isAzureInstanceDocument(body: string): boolean {
  try {
    const compute = (JSON.parse(body) as { compute?: Record<string, unknown> } | null)?.compute;
    return typeof compute === 'object' && compute !== null && (typeof compute.vmId === 'string' || typeof compute.azEnvironment === 'string');
  } catch {
    return false;
  }
}

/**
 * EC2 answers the token PUT with the TTL echoed in a header and a base64-style token as the body;
 * an HTML page or a JSON error from some other server is neither.
 */
function looksLikeAwsTokenAnswer(headers: IncomingHttpHeaders, body: string): boolean {
  return headers['x-aws-ec2-metadata-token-ttl-seconds'] !== undefined || /^[A-Za-z0-9+/=_-]{16,512}$/.test(body.trim());
}

export async function probeMetadataAddress(host: string, port: number, timeoutMs = DEFAULT_PROBE_TIMEOUT_MS): Promise<AddressOccupant> {
  const deadline = Date.now() + timeoutMs;
  const where = `${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`;

  const azure = await exchange(host, port, 'GET', '/metadata/instance?api-version=2021-02-01', { Metadata: 'true' }, deadline);
  if (azure.kind === 'unreachable') return { kind: 'free' };
  if (azure.kind === 'silent') {
    return { kind: 'other', detail: `something accepts connections on ${where} but did not answer HTTP within ${timeoutMs} ms` };
  }
  if (azure.kind === 'broken') return { kind: 'other', detail: `something on ${where} ${azure.reason}` };

  const product = serverProduct(azure.headers);
  if (product === PROXY_SERVER_HEADER) return { kind: 'himdsproxy' };
  if (product === 'ec2ws') return { kind: 'aws-imds' };
  if (azure.status === 200 && isAzureInstanceDocument(azure.body)) return { kind: 'azure-imds' };

  const aws = await exchange(host, port, 'PUT', '/latest/api/token', { 'X-aws-ec2-metadata-token-ttl-seconds': '60' }, deadline);
  if (aws.kind === 'response') {
    if (serverProduct(aws.headers) === 'ec2ws') return { kind: 'aws-imds' };
    if (aws.status === 200 && looksLikeAwsTokenAnswer(aws.headers, aws.body)) return { kind: 'aws-imds' };
  }

  const server = serverOf(azure.headers);
  return {
    kind: 'other',
    detail: `an HTTP server (${server === undefined ? 'no Server header' : `Server: ${server.slice(0, 60)}`}) answers on ${where}: ` +
      `HTTP ${azure.status} to GET /metadata/instance`,
    ...(product === undefined ? {} : { server: product }),
  };
}
