// IMDS api-versions: which the proxy accepts, and how a caller's version is mapped onto one HIMDS accepts.

/** Every published IMDS api-version, oldest to newest (PROTOCOLS.md §1). */
export const KNOWN_IMDS_API_VERSIONS: readonly string[] = [
  '2017-03-01', '2017-04-02', '2017-08-01', '2017-10-01', '2017-12-01', '2018-02-01', '2018-04-02',
  '2018-10-01', '2019-02-01', '2019-03-11', '2019-04-30', '2019-06-01', '2019-06-04', '2019-08-01',
  '2019-08-15', '2019-11-01', '2020-06-01', '2020-07-15', '2020-09-01', '2020-10-01', '2020-12-01',
  '2021-01-01', '2021-02-01', '2021-03-01', '2021-05-01', '2021-08-01', '2021-10-01', '2021-11-01',
  '2021-11-15', '2021-12-13', '2023-07-01', '2023-11-15', '2024-03-15', '2024-07-17', '2025-04-07',
];

/** What IMDS lists in `newest-versions` when it refuses a version: newest first. */
export const NEWEST_IMDS_API_VERSIONS: readonly string[] = KNOWN_IMDS_API_VERSIONS.slice(-3).reverse();

const KNOWN_SET = new Set(KNOWN_IMDS_API_VERSIONS);

export function isKnownImdsApiVersion(version: string | undefined): version is string {
  return version !== undefined && KNOWN_SET.has(version);
}

const DATE_VERSION = /\b\d{4}-\d{2}-\d{2}\b/g;

/**
 * The versions an agent lists when it refuses one ("… Supported are 2021-02-01 2020-06-01 …"),
 * or undefined when the text holds no such list.
 */
export function parseSupportedApiVersions(errorText: string): string[] | undefined {
  const marker = /supported (?:are|versions?)/i.exec(errorText);
  if (!marker) return undefined;
  const versions = errorText.slice(marker.index).match(DATE_VERSION);
  return versions && versions.length > 0 ? [...new Set(versions)] : undefined;
}

/**
 * The supported version nearest to the requested one. Rule: the newest supported version not
 * newer than the request (callers tolerate the fields of an older schema best); if every supported
 * version is newer, the oldest of them (the smallest jump forward). ISO dates compare as strings.
 */
export function closestSupportedApiVersion(requested: string, supported: readonly string[]): string | undefined {
  const sorted = [...supported].sort();
  const notNewer = sorted.filter((version) => version <= requested);
  return notNewer.at(-1) ?? sorted[0];
}

export interface ApiVersionMapping {
  requested: string;
  used: string;
}

/**
 * What this proxy has learned about its HIMDS's versions. Shared by every request, so the
 * "Supported are" answer is paid for once; relearned if the agent's answer changes (an upgrade).
 */
export class HimdsApiVersions {
  private supported: string[] | undefined;

  /** The version to send for a caller's version: unchanged until a list is known. */
  versionToSend(requested: string): string {
    if (!this.supported || this.supported.includes(requested)) return requested;
    return closestSupportedApiVersion(requested, this.supported) ?? requested;
  }

  /**
   * Learns from a refusal. Returns the version to retry with, or undefined when the refusal
   * carries no list or retrying could not help.
   */
  learnFromRefusal(refusedVersion: string, requested: string, errorText: string): string | undefined {
    const supported = parseSupportedApiVersions(errorText);
    if (!supported || supported.includes(refusedVersion)) return undefined;
    this.supported = supported;
    const retryVersion = closestSupportedApiVersion(requested, supported);
    return retryVersion === refusedVersion ? undefined : retryVersion;
  }

  get knownSupported(): readonly string[] | undefined {
    return this.supported;
  }
}
