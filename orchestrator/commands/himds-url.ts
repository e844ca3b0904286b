// Which HIMDS a command talks to: --himds, else the Arc agent's environment variables, else the default.
import { himdsUrlFromEnvironment } from '../../core/contract.js';
import { EXIT_CODES, HimdsproxyError } from '../errors.js';

export function himdsUrlFor(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  if (flag !== undefined) return flag;
  try {
    return himdsUrlFromEnvironment(env);
  } catch (error) {
    throw new HimdsproxyError(
      (error as Error).message,
      EXIT_CODES.usage,
      'Correct the variable (the Connected Machine agent sets it to http://localhost:40342), or pass --himds',
    );
  }
}
