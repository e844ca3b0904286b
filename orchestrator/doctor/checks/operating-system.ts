// Check 1: is this an OS the AADLoginForWindows handler runs on, and does it still need himdsproxy?
import type { OperatingSystemInfo } from '../../platform/types.js';
import type { CheckResult, DoctorCheck } from '../check.js';

/** Windows Server 2025 and Windows 11 24H2 share build 26100. */
const FIRST_BUILD_WITH_NATIVE_ARC_SUPPORT = 26100;
/** Windows Server 2019 and Windows 10 1809: the oldest the extension supports (older: error 51). */
const OLDEST_SUPPORTED_BUILD = 17763;
export const NATIVE_ARC_SIGN_IN_DOCS = 'https://learn.microsoft.com/entra/identity/devices/howto-arc-sign-in-windows';

export function judgeOperatingSystem(os: OperatingSystemInfo): Omit<CheckResult, 'id' | 'title'> {
  const described = `${os.productName} (${os.version})`;
  if (os.platform !== 'win32') {
    return {
      outcome: 'warn',
      detail: `${described}: AADLoginForWindows needs Windows. join still runs whatever handler package it is given; serve is fully supported here.`,
      fix: 'For an Entra join, run himdsproxy on the Arc-enabled Windows Server itself.',
    };
  }
  if (os.build === undefined) {
    return {
      outcome: 'warn',
      detail: `${described}: could not tell the Windows build number.`,
      fix: 'Run `cmd /c ver` to see the build; himdsproxy is meant for builds 17763 to 26099.',
    };
  }
  if (os.build >= FIRST_BUILD_WITH_NATIVE_ARC_SUPPORT) {
    const family = os.isWindowsServer ? 'Windows Server 2025 and later' : 'Windows 11 24H2 and later';
    return {
      outcome: 'warn',
      detail: `${described}: Microsoft supports the AADLoginForWindows extension (2.1+) natively on Arc-enabled ${family}; himdsproxy is for older systems.`,
      fix: `Install the extension on the Arc machine resource instead (Azure portal, Extensions, or az connectedmachine extension create); see ${NATIVE_ARC_SIGN_IN_DOCS}`,
    };
  }
  if (os.build < OLDEST_SUPPORTED_BUILD) {
    return {
      outcome: 'warn',
      detail: `${described}: AADLoginForWindows supports Windows Server 2019 / Windows 10 1809 (build 17763) and later; the handler will likely report error 51 (unsupported OS).`,
      fix: 'Upgrade the operating system to Windows Server 2019 or later before joining.',
    };
  }
  return { outcome: 'pass', detail: `${described}: supported, and not covered by the native Arc extension.` };
}

export const operatingSystemCheck: DoctorCheck = {
  id: 'operating-system',
  title: 'Operating system',
  async run(context) {
    return judgeOperatingSystem(await context.platform.operatingSystem());
  },
};
