// Turns upstream and challenge failures into the answer a caller gets: fast, retryable where retrying helps.
import { isChallengeError } from './challenge.js';
import { isUpstreamError } from './himds-client.js';
import { ImdsProblem } from './imds-errors.js';

/** Seconds a caller should wait before retrying while the agent is down. */
export const AGENT_DOWN_RETRY_AFTER_SECONDS = 5;

/** The problem for a known failure kind, or undefined for an unexpected error. */
export function problemFromFailure(error: unknown, himdsOrigin: string): ImdsProblem | undefined {
  if (isUpstreamError(error)) {
    switch (error.kind) {
      case 'unreachable':
        return new ImdsProblem(
          503,
          `${error.message}. The Azure Connected Machine agent (himds service) is not running or not listening at ${himdsOrigin}: start it (Windows: Start-Service himds; Linux: systemctl start himdsd) or check --himds / IMDS_ENDPOINT.`,
          { retryAfterSeconds: AGENT_DOWN_RETRY_AFTER_SECONDS, cause: error },
        );
      case 'timeout':
        return new ImdsProblem(504, `${error.message}; the Azure Connected Machine agent is running but not answering.`, { cause: error });
      case 'malformed':
        return new ImdsProblem(502, `${error.message}.`, { cause: error });
    }
  }
  if (isChallengeError(error)) return new ImdsProblem(502, `${error.message}.`, { cause: error });
  return undefined;
}
