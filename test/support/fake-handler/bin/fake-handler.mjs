// A stand-in for the AADLoginForWindows extension handler: the Guest Agent contract of PROTOCOLS.md §3, the IMDS calls of §4.
// Plain JavaScript without dependencies, so it runs from an extracted package with nothing but Node.
//
// Usage (as HandlerManifest.json runs it): fake-handler install|enable|disable|uninstall|update
// Environment:
//   FAKE_HANDLER_MODE      success (default) | error | hang | stall | enable-exit | garbage-status
//                          | bom-status | slow | install-exit
//   FAKE_HANDLER_IMDS_URL  where IMDS answers (else HIMDSPROXY_IMDS_URL, else http://169.254.169.254)
//   FAKE_HANDLER_STEP_MS   pause between status updates in the garbage-status and slow modes (default 200)
//   ConfigSequenceNumber   the settings sequence number (else the newest .settings file)
import { appendFileSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MODES = ['success', 'error', 'hang', 'stall', 'enable-exit', 'garbage-status', 'bom-status', 'slow', 'install-exit'];
const DEVICE_REGISTRATION_RESOURCE = 'urn:ms-drs:enterpriseregistration.windows.net';
/** DSREG_E_MSI_TENANTID_UNAVAILABLE: what dsregcmd reports when IMDS does not give it what it needs. */
const MSI_TENANT_UNAVAILABLE = -2145648574;
const SUCCESS_MESSAGE = 'Successfully joined machine to AAD.';
const OPERATION = 'AADJoin';

/** The handler folder: HandlerEnvironment.json lives here, one level above bin/. */
const handlerDirectory = join(dirname(fileURLToPath(import.meta.url)), '..');
const operation = process.argv[2];
const mode = process.env.FAKE_HANDLER_MODE || 'success';
const stepMs = Number(process.env.FAKE_HANDLER_STEP_MS ?? '200');
const imdsBase = (process.env.FAKE_HANDLER_IMDS_URL || process.env.HIMDSPROXY_IMDS_URL || 'http://169.254.169.254').replace(/\/+$/, '');

/** A malformed input from the "Guest Agent": say so loudly and exit 2. */
class ContractViolation extends Error {}

main().catch((error) => {
  process.stderr.write(`fake-handler: ${error instanceof ContractViolation ? '' : 'unexpected failure: '}${error.message}\n`);
  process.exit(2);
});

async function main() {
  if (!MODES.includes(mode)) throw new ContractViolation(`unknown FAKE_HANDLER_MODE '${mode}'; expected one of ${MODES.join(', ')}`);
  if (!Number.isFinite(stepMs) || stepMs < 0) throw new ContractViolation(`FAKE_HANDLER_STEP_MS must be a number of milliseconds, got '${process.env.FAKE_HANDLER_STEP_MS}'`);
  const environment = readHandlerEnvironment();
  const log = (line) => appendFileSync(join(environment.logFolder, 'fake-handler.log'), `${new Date().toISOString()} ${line}\n`);
  mkdirSync(environment.logFolder, { recursive: true });
  log(`${operation ?? '(no operation)'} started, mode ${mode}, cwd ${process.cwd()}`);
  console.log(`fake-handler: ${operation}, mode ${mode}`);

  switch (operation) {
    case 'install':
      if (mode === 'install-exit') {
        log('install failing on purpose with exit code 4');
        console.error('fake-handler: install failing on purpose');
        process.exit(4);
      }
      log('install succeeded');
      return;
    case 'enable':
      await enable(environment, log);
      return;
    case 'disable':
    case 'uninstall':
    case 'update':
      log(`${operation} succeeded`);
      return;
    default:
      throw new ContractViolation(`unknown operation '${operation}'; expected install, enable, disable, uninstall or update`);
  }
}

async function enable(environment, log) {
  const sequenceNumber = findSequenceNumber(environment.configFolder);
  log(`enable with sequence number ${sequenceNumber}`);
  const status = statusWriter(environment, sequenceNumber);

  if (mode === 'enable-exit') {
    log('enable failing on purpose with exit code 3, no status written');
    console.error('fake-handler: enable failing on purpose');
    process.exit(3);
  }

  let publicSettings;
  try {
    publicSettings = readPublicSettings(environment.configFolder, sequenceNumber);
  } catch (error) {
    if (!(error instanceof ContractViolation)) throw error;
    log(`invalid settings: ${error.message}`);
    status.write('error', `Invalid handler settings: ${error.message}`, 1);
    return;
  }
  log(`public settings: mdmId '${publicSettings.mdmId}'`);

  if (mode === 'garbage-status') {
    status.writeRaw('this is not JSON {{{');
    await sleep(stepMs);
    const valid = status.render('transitioning', 'Joining machine to AAD.', 0);
    status.writeRaw(valid.slice(0, Math.floor(valid.length / 2)));
    await sleep(stepMs);
  }
  status.write('transitioning', 'Joining machine to AAD.', 0);

  if (mode === 'hang') {
    log('hanging on purpose');
    setInterval(() => {}, 60_000);
    return;
  }
  if (mode === 'stall') {
    log('exiting without ever finishing the join, on purpose');
    return;
  }
  if (mode === 'slow') {
    for (const step of ['Reading instance metadata.', 'Asking for the tenant.', 'Registering the device.']) {
      await sleep(stepMs);
      status.write('transitioning', step, 0);
    }
    await sleep(stepMs);
  }
  if (mode === 'error') {
    log('reporting an error on purpose');
    status.write('error', 'Failed to get the tenant from the instance metadata service (DSREG_E_MSI_TENANTID_UNAVAILABLE).', MSI_TENANT_UNAVAILABLE);
    return;
  }

  const failure = await callInstanceMetadataService(log);
  if (failure) {
    log(`join failed: ${failure}`);
    status.write('error', `AAD join failed: ${failure}`, MSI_TENANT_UNAVAILABLE);
    return;
  }
  log('join succeeded');
  status.write('success', SUCCESS_MESSAGE, 0, { bom: mode === 'bom-status' });
}

/** The three calls dsregcmd /AzureSecureVMJoin makes; returns what went wrong, or undefined. Never records the token. */
async function callInstanceMetadataService(log) {
  const instance = await getJson(log, '/metadata/instance?api-version=2017-08-01');
  if (instance.failure) return instance.failure;
  const compute = instance.body?.compute;
  for (const key of ['subscriptionId', 'resourceGroupName', 'name']) {
    if (typeof compute?.[key] !== 'string' || compute[key] === '') return `instance metadata lacks compute.${key}`;
  }

  const info = await getJson(log, '/metadata/identity/info?api-version=2018-02-01');
  if (info.failure) return info.failure;
  const tenantId = info.body?.tenantId;
  if (typeof tenantId !== 'string' || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(tenantId)) {
    return 'identity/info did not return a tenantId GUID';
  }
  log(`tenantId ${tenantId}`);

  const token = await getJson(log, `/metadata/identity/oauth2/token?resource=${encodeURIComponent(DEVICE_REGISTRATION_RESOURCE)}&api-version=2018-02-01`);
  if (token.failure) return token.failure;
  if (typeof token.body?.access_token !== 'string' || token.body.access_token === '') return 'the token response has no access_token';
  if (token.body.resource !== undefined && token.body.resource !== DEVICE_REGISTRATION_RESOURCE) {
    return `the token is for '${token.body.resource}', not ${DEVICE_REGISTRATION_RESOURCE}`;
  }
  log(`token received for ${DEVICE_REGISTRATION_RESOURCE}, expires_on ${token.body.expires_on}`);
  return undefined;
}

async function getJson(log, pathAndQuery) {
  const path = pathAndQuery.split('?')[0];
  let response;
  try {
    response = await fetch(`${imdsBase}${pathAndQuery}`, { headers: { Metadata: 'true' }, signal: AbortSignal.timeout(10_000) });
  } catch (error) {
    log(`GET ${pathAndQuery} -> no answer (${error.cause?.code ?? error.name})`);
    return { failure: `GET ${path} got no answer (${error.cause?.code ?? error.name})` };
  }
  log(`GET ${pathAndQuery} -> ${response.status}`);
  const text = await response.text();
  if (response.status !== 200) {
    // Only the error code goes into the status; the body is not echoed anywhere.
    let error = '';
    try {
      const parsed = JSON.parse(text);
      if (typeof parsed?.error === 'string') error = ` ${parsed.error}`;
    } catch {
      // not JSON: the status code says enough
    }
    return { failure: `GET ${path} answered ${response.status}${error}` };
  }
  try {
    return { body: JSON.parse(text) };
  } catch {
    return { failure: `GET ${path} answered 200 with a body that is not JSON` };
  }
}

function readHandlerEnvironment() {
  const file = join(handlerDirectory, 'HandlerEnvironment.json');
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ContractViolation(`cannot read ${file} (${error.code})`);
  }
  if (text.startsWith('\uFEFF')) throw new ContractViolation(`${file} starts with a byte order mark; it must be UTF-8 without BOM`);
  let document;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new ContractViolation(`${file} is not JSON: ${error.message}`);
  }
  if (!Array.isArray(document) || document.length !== 1) throw new ContractViolation(`${file} must be an array of exactly one object`);
  const [entry] = document;
  if (typeof entry?.name !== 'string' || entry.name === '') throw new ContractViolation(`${file} lacks name`);
  if (entry.version !== 1) throw new ContractViolation(`${file} version must be 1.0, got ${JSON.stringify(entry.version)}`);
  const environment = entry.handlerEnvironment;
  if (typeof environment !== 'object' || environment === null) throw new ContractViolation(`${file} lacks handlerEnvironment`);
  for (const key of ['logFolder', 'configFolder', 'statusFolder', 'heartbeatFile']) {
    if (typeof environment[key] !== 'string' || environment[key] === '') throw new ContractViolation(`${file} lacks handlerEnvironment.${key}`);
  }
  if (!('deploymentid' in environment)) throw new ContractViolation(`${file} lacks handlerEnvironment.deploymentid (lower case)`);
  return { name: entry.name, ...environment };
}

/** ConfigSequenceNumber when set, else the newest .settings file (the highest number on a tie). */
function findSequenceNumber(configFolder) {
  const fromEnvironment = process.env.ConfigSequenceNumber;
  if (fromEnvironment !== undefined) {
    if (!/^\d+$/.test(fromEnvironment)) throw new ContractViolation(`ConfigSequenceNumber must be a whole number, got '${fromEnvironment}'`);
    return Number(fromEnvironment);
  }
  let newest;
  for (const name of readdirSync(configFolder)) {
    const match = /^(\d+)\.settings$/.exec(name);
    if (!match) continue;
    const candidate = { number: Number(match[1]), modified: statSync(join(configFolder, name)).mtimeMs };
    if (!newest || candidate.modified > newest.modified || (candidate.modified === newest.modified && candidate.number > newest.number)) {
      newest = candidate;
    }
  }
  if (!newest) throw new ContractViolation(`no ConfigSequenceNumber and no .settings file in ${configFolder}`);
  return newest.number;
}

function readPublicSettings(configFolder, sequenceNumber) {
  const file = join(configFolder, `${sequenceNumber}.settings`);
  let document;
  try {
    document = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ContractViolation(`cannot read ${file} as JSON (${error.code ?? error.message})`);
  }
  if (!Array.isArray(document?.runtimeSettings) || document.runtimeSettings.length !== 1) {
    throw new ContractViolation(`${file} must hold runtimeSettings with exactly one entry`);
  }
  const publicSettings = document.runtimeSettings[0]?.handlerSettings?.publicSettings;
  if (typeof publicSettings !== 'object' || publicSettings === null) throw new ContractViolation(`${file} lacks handlerSettings.publicSettings`);
  if (typeof publicSettings.mdmId !== 'string') throw new ContractViolation(`${file} lacks the mdmId public setting (an empty string is allowed)`);
  return publicSettings;
}

/** Writes Status/<n>.status the way Windows handlers do: .NET dates, replaced by rename. */
function statusWriter(environment, sequenceNumber) {
  const file = join(environment.statusFolder, `${sequenceNumber}.status`);
  mkdirSync(environment.statusFolder, { recursive: true });
  const writeRaw = (text) => {
    const temporary = `${file}.${process.pid}.tmp`;
    writeFileSync(temporary, text);
    renameSync(temporary, file);
  };
  const render = (status, message, code) =>
    JSON.stringify([
      {
        version: '1.0',
        timestampUTC: `/Date(${Date.now()})/`,
        status: {
          name: environment.name,
          operation: OPERATION,
          status,
          code,
          formattedMessage: { lang: 'en-US', message },
          substatus: null,
        },
      },
    ]).replace(/"\/Date\((\d+)\)\/"/, '"\\/Date($1)\\/"');
  return {
    render,
    writeRaw,
    write(status, message, code, { bom = false } = {}) {
      writeRaw(`${bom ? '\uFEFF' : ''}${render(status, message, code)}`);
    },
  };
}

function sleep(milliseconds) {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}
