// The instance metadata of a fake Arc-enabled server, and how HIMDS-style paths select parts of it.

/** Who the fake machine is; every field shows up in instance metadata and token claims. */
export interface ArcMachineIdentity {
  tenantId: string;
  subscriptionId: string;
  resourceGroupName: string;
  machineName: string;
  location: string;
  vmId: string;
}

export const DEFAULT_ARC_MACHINE: ArcMachineIdentity = {
  tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
  subscriptionId: '0b1f6471-1bf0-4dda-aec3-cb9272f09590',
  resourceGroupName: 'rg-arc-servers',
  machineName: 'arc-win-01',
  location: 'westeurope',
  vmId: '3f7c9a52-6d1e-4b8a-9c0f-1a2b3c4d5e6f',
};

export function arcResourceId(machine: ArcMachineIdentity): string {
  return `/subscriptions/${machine.subscriptionId}/resourceGroups/${machine.resourceGroupName}/providers/Microsoft.HybridCompute/machines/${machine.machineName}`;
}

export type MetadataValue = string | null | MetadataValue[] | { [key: string]: MetadataValue };

/**
 * Shaped like an Arc agent's /metadata/instance: primitives are strings, `network` and
 * `storageProfile` are empty objects and `publicKeys` is null, as real agents answer.
 */
export function buildArcInstanceMetadata(machine: ArcMachineIdentity): { [key: string]: MetadataValue } {
  return {
    compute: {
      azEnvironment: 'AzurePublicCloud',
      location: machine.location,
      name: machine.machineName,
      osType: 'windows',
      osProfile: { computerName: machine.machineName.toUpperCase() },
      provider: 'Microsoft.HybridCompute',
      publicKeys: null,
      resourceGroupName: machine.resourceGroupName,
      resourceId: arcResourceId(machine),
      storageProfile: {},
      subscriptionId: machine.subscriptionId,
      tags: 'environment:test;owner:himdsproxy',
      tagsList: [
        { name: 'environment', value: 'test' },
        { name: 'owner', value: 'himdsproxy' },
      ],
      vmId: machine.vmId,
      vmSize: '',
    },
    network: {},
  };
}

export type InstanceLookup =
  | { kind: 'found'; value: MetadataValue }
  | { kind: 'missing' };

/** Walks `segments` (after /metadata/instance) into the document; array elements are addressed by index. */
export function lookupInstancePath(document: MetadataValue, segments: string[]): InstanceLookup {
  let current: MetadataValue = document;
  for (const segment of segments) {
    if (Array.isArray(current)) {
      const index = /^\d+$/.test(segment) ? Number(segment) : Number.NaN;
      const element = current[index];
      if (element === undefined) return { kind: 'missing' };
      current = element;
    } else if (current !== null && typeof current === 'object' && Object.hasOwn(current, segment)) {
      current = current[segment]!;
    } else {
      return { kind: 'missing' };
    }
  }
  return { kind: 'found', value: current };
}

/** A leaf is what IMDS only serves as text: anything that is not an object or array. */
export function isLeafValue(value: MetadataValue): value is string | null {
  return value === null || typeof value === 'string';
}
