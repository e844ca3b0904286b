// What `himdsproxy join` can be told, and the defaults a user gets when they say nothing.
import {
  DEFAULT_HIMDS_URL,
  DEFAULT_LISTEN,
  DEFAULT_UPSTREAM_TIMEOUT_MS,
  ENTRA_DEVICE_REGISTRATION_RESOURCE,
} from '../core/contract.js';
import { DEFAULT_HANDLER } from './work-folder.js';

export interface JoinOptions {
  workdir: string;
  handlerName: string;
  handlerVersion: string;
  /** Exactly one of handlerUrl / handlerZip is used; handlerZip wins when both are given. */
  handlerUrl?: string;
  handlerZip?: string;
  sha256?: string;
  mdmId: string;
  listen: string;
  himdsUrl: string;
  tokenDirectory: string;
  allowedResources: string[];
  upstreamTimeoutMs: number;
  /** Bounds the wait for a terminal handler status. */
  timeoutMs: number;
  installTimeoutMs: number;
  enableTimeoutMs: number;
  /** Run even when the machine is already joined; take an address another IMDS answers on. */
  force: boolean;
  showProgress: boolean;
  /** Preflight tests DNS and TCP 443 to the Entra hosts (warn only). */
  checkOutbound: boolean;
}

export const JOIN_DEFAULTS = {
  handlerName: DEFAULT_HANDLER.name,
  handlerVersion: DEFAULT_HANDLER.version,
  mdmId: '',
  listen: DEFAULT_LISTEN,
  himdsUrl: DEFAULT_HIMDS_URL,
  /** During a join only the handler's own resource may be asked for (DESIGN.md security model). */
  allowedResources: [ENTRA_DEVICE_REGISTRATION_RESOURCE],
  upstreamTimeoutMs: DEFAULT_UPSTREAM_TIMEOUT_MS,
  timeoutMs: 10 * 60_000,
  /** The Linux guest agent's limits (PROTOCOLS.md §3). */
  installTimeoutMs: 900_000,
  enableTimeoutMs: 300_000,
} as const;
