// The access log: one JSON line per request, written synchronously so nothing is lost at exit.
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ApiVersionMapping } from './api-versions.js';

/** One request as the log records it. Never holds a token, key content or Authorization header. */
export interface AccessLogEntry {
  time: string;
  peer: string;
  method: string;
  /** The path without its query. */
  path: string;
  apiVersion?: string;
  /** Token requests only. */
  resource?: string;
  status: number;
  /** HIMDS's status for the last upstream call, when one was made. */
  upstreamStatus?: number;
  /** Present when HIMDS did not accept the caller's api-version and another was sent. */
  apiVersionMapping?: ApiVersionMapping;
  /** Why the proxy answered as it did, when it answered itself (refusals, upstream trouble). */
  reason?: string;
  durationMs: number;
}

export interface AccessLog {
  record(entry: AccessLogEntry): void;
  close(): void;
}

/** Appends to a file (created with its folder) or, without one, writes to a stream such as stdout. */
export class JsonLinesAccessLog implements AccessLog {
  private descriptor: number | undefined;
  private readonly toFile: boolean;

  constructor(
    file: string | undefined,
    private readonly fallback: { write(text: string): unknown } = process.stdout,
  ) {
    this.toFile = file !== undefined;
    if (file !== undefined) {
      mkdirSync(dirname(file), { recursive: true });
      this.descriptor = openSync(file, 'a', 0o640);
    }
  }

  record(entry: AccessLogEntry): void {
    const line = `${JSON.stringify(entry)}\n`;
    if (this.descriptor !== undefined) writeSync(this.descriptor, line);
    // A request finishing after close() is dropped rather than sent to the wrong place.
    else if (!this.toFile) this.fallback.write(line);
  }

  close(): void {
    if (this.descriptor === undefined) return;
    closeSync(this.descriptor);
    this.descriptor = undefined;
  }
}

/** Keeps entries in memory, for tests. */
export class MemoryAccessLog implements AccessLog {
  readonly entries: AccessLogEntry[] = [];
  record(entry: AccessLogEntry): void {
    this.entries.push(entry);
  }
  close(): void {}
}

/** Requests the app logged itself; the server logs the few the app never saw (unparseable targets). */
const loggedByApp = new WeakSet<object>();

export function markLoggedByApp(incoming: object): void {
  loggedByApp.add(incoming);
}

export function wasLoggedByApp(incoming: object): boolean {
  return loggedByApp.has(incoming);
}
