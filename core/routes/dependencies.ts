// What routes need from the app: the upstream client, the version knowledge, the token rules.
import type { HimdsApiVersions } from '../api-versions.js';
import type { HimdsClient } from '../himds-client.js';

export interface RouteDependencies {
  himds: HimdsClient;
  apiVersions: HimdsApiVersions;
  tokenDirectory: string;
  /** Empty means every resource. */
  allowedResources: readonly string[];
  /** Path rules for the challenge key; defaults to this OS. */
  platform?: NodeJS.Platform;
}
