// The seam between the workflow and the operating system: everything OS-specific is behind these.

/** Outcome of one external command; callers branch on fields, never on message text. */
export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface CommandOptions {
  timeoutMs?: number;
  /** Text sent to the command's standard input. */
  input?: string;
}

/** Runs an external program. Injected so Windows code can be tested with recorded outputs. */
export interface CommandRunner {
  run(file: string, args: readonly string[], options?: CommandOptions): Promise<CommandResult>;
}

/** Microsoft Entra join state as the OS reports it. */
export interface EntraJoinState {
  joined: boolean;
  deviceId?: string;
  tenantId?: string;
  tenantName?: string;
}

export interface OperatingSystemInfo {
  platform: NodeJS.Platform;
  /** Human-readable product name, e.g. "Windows Server 2022 Datacenter". */
  productName: string;
  /** e.g. "10.0.20348" */
  version: string;
  /** Windows build number (20348, 26100 …); undefined elsewhere. */
  build?: number;
  isWindowsServer: boolean;
}

/** One adapter per OS (windows: netsh/PowerShell/dsregcmd; linux: ip). */
export interface PlatformAdapter {
  readonly name: 'windows' | 'linux';
  /** Is this IPv4 address assigned to a local interface? */
  hasLoopbackAddress(address: string): Promise<boolean>;
  /** Adds address/32 to the loopback interface, active store only, never used as a source address. */
  addLoopbackAddress(address: string): Promise<void>;
  removeLoopbackAddress(address: string): Promise<void>;
  /** Administrator on Windows, root on Linux. */
  isElevated(): Promise<boolean>;
  /** Undefined where the OS has no notion of Entra join (Linux). */
  entraJoinState(): Promise<EntraJoinState | undefined>;
  operatingSystem(): Promise<OperatingSystemInfo>;
}
