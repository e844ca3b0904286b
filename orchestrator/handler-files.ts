// Pure builders for the files a VM extension handler reads (PROTOCOLS.md §3), and sequence-number arithmetic.
import type { HandlerPaths } from './work-folder.js';

/** Public settings as the handler finds them under runtimeSettings[0].handlerSettings.publicSettings. */
export type PublicSettings = Readonly<Record<string, unknown>>;

/**
 * The text of HandlerEnvironment.json: an array of exactly one object, keys in the order and
 * case the Windows Guest Agent uses (lower-case `deploymentid`: some parsers are case-sensitive),
 * and `"version": 1.0` written with its decimal point as Microsoft writes it, because a .NET
 * handler may read the field as text.
 */
export function buildHandlerEnvironment(handlerName: string, paths: HandlerPaths): string {
  const environment = [
    {
      name: handlerName,
      version: VERSION_PLACEHOLDER,
      handlerEnvironment: {
        logFolder: paths.handlerLogDirectory,
        configFolder: paths.runtimeSettingsDirectory,
        statusFolder: paths.statusDirectory,
        heartbeatFile: paths.heartbeatFile,
        eventsFolder: paths.eventsDirectory,
        deploymentid: '',
        rolename: '',
        instance: '',
        hostResolverAddress: '',
      },
    },
  ];
  return JSON.stringify(environment, null, 2).replace(`"version": "${VERSION_PLACEHOLDER}"`, '"version": 1.0');
}

const VERSION_PLACEHOLDER = '__himdsproxy_handler_environment_version__';

/** The text of RuntimeSettings/<n>.settings: exactly one entry, public settings only. */
export function buildRuntimeSettings(publicSettings: PublicSettings): string {
  return JSON.stringify({ runtimeSettings: [{ handlerSettings: { publicSettings } }] }, null, 2);
}

const SEQUENCE_FILE_PATTERN = /^(\d+)\.(?:settings|status)$/i;

/**
 * One above the highest sequence number among these file names (`<n>.settings`, `<n>.status`),
 * or 0 when there is none. Other names are ignored, so stray files cannot derail the count.
 */
export function nextSequenceNumberAfter(fileNames: Iterable<string>): number {
  let highest = -1;
  for (const fileName of fileNames) {
    const match = SEQUENCE_FILE_PATTERN.exec(fileName);
    if (!match) continue;
    const sequenceNumber = Number(match[1]);
    if (Number.isSafeInteger(sequenceNumber) && sequenceNumber > highest) highest = sequenceNumber;
  }
  return highest + 1;
}
