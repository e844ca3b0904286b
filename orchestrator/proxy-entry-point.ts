// Which file starts the proxy process, and with which Node options, from built or source code.
import { fileURLToPath } from 'node:url';
import { PROXY_NODE_OPTIONS } from '../core/contract.js';

export interface ProxyProgram {
  /** Absolute path of the Node program. */
  file: string;
  /** Node CLI options for it (replacing, not adding to, this process's own). */
  nodeOptions: string[];
}

/**
 * From dist/ (this module is .js) the proxy is dist/core/main.js run by plain Node; from
 * source under tsx (this module is .ts) it is core/main.ts with the tsx loader. The loader is
 * passed as an absolute URL because `--import tsx` would be resolved from the working
 * directory, which is the user's work folder, not this project.
 */
export function proxyProgramFor(moduleUrl: string, resolveTsx: () => string = () => import.meta.resolve('tsx')): ProxyProgram {
  const runningFromSource = moduleUrl.endsWith('.ts');
  const extension = runningFromSource ? 'ts' : 'js';
  const file = fileURLToPath(new URL(`../core/main.${extension}`, moduleUrl));
  return { file, nodeOptions: [...PROXY_NODE_OPTIONS, ...(runningFromSource ? ['--import', resolveTsx()] : [])] };
}

/** The proxy program that belongs to this copy of himdsproxy. */
export function defaultProxyProgram(): ProxyProgram {
  return proxyProgramFor(import.meta.url);
}
