// Relays what HIMDS answered: JSON bodies re-shaped for IMDS callers, errors passed on with their status.
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { UpstreamResponse } from './himds-client.js';
import { UpstreamError } from './himds-client.js';
import { ImdsProblem, type ErrorShape } from './imds-errors.js';
import { stringifyPrimitives } from './instance-metadata.js';
import { PROXY_SERVER_HEADER } from './contract.js';

export function jsonResponse(body: unknown, status = 200): Response {
  return jsonTextResponse(JSON.stringify(body), status);
}

/** A JSON body that is already text (HIMDS's own, when it needed no change). */
export function jsonTextResponse(json: string, status = 200): Response {
  return new Response(json, {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', server: PROXY_SERVER_HEADER },
  });
}

/** HIMDS's JSON answer in IMDS shape (every primitive a string), relaying its text when it already is. */
export async function imdsShapedJson(response: UpstreamResponse): Promise<Response> {
  const text = await response.readText();
  const parsed = await response.withBody(text).readJson();
  const shaped = stringifyPrimitives(parsed);
  return shaped === parsed ? jsonTextResponse(text) : jsonResponse(shaped);
}

export function textResponse(text: string, status = 200): Response {
  return new Response(text, {
    status,
    headers: { 'content-type': 'text/plain; charset=utf-8', server: PROXY_SERVER_HEADER },
  });
}

/** The JSON object of a 200 answer; anything else from HIMDS is malformed. */
export async function readJsonObject(response: UpstreamResponse): Promise<Record<string, unknown>> {
  const body = await response.readJson();
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new UpstreamError('malformed', `HIMDS answered ${response.status} with JSON that is not an object`);
  }
  return body as Record<string, unknown>;
}

const MAX_RELAYED_DETAIL = 500;

/**
 * Passes an HIMDS error answer on with its status, in the caller's shape. A status that is not
 * an error (a redirect, say) is malformed for HIMDS.
 */
export async function relayUpstreamError(response: UpstreamResponse, shape: ErrorShape): Promise<Response> {
  const status = response.status;
  const text = await response.readText();
  if (status < 400 || status > 599) {
    throw new UpstreamError('malformed', `HIMDS answered with unexpected status ${status}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
    const body = parsed as Record<string, unknown>;
    if (typeof body.error === 'string') {
      if (shape === 'general') return jsonResponse(body, status);
      const description = typeof body.error_description === 'string' ? body.error_description : '';
      return jsonResponse({ ...body, error: body.error, error_description: description }, status);
    }
  }
  const detail = text.trim().slice(0, MAX_RELAYED_DETAIL) || `HIMDS answered ${status} without a body`;
  throw new ImdsProblem(status as ContentfulStatusCode, detail);
}
