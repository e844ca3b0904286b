// Enforces the dependency rule of DESIGN.md: core/ never imports orchestrator/, and the
// orchestrator reaches into core/ only through core/contract.ts.
import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function sourceFiles(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => join(entry.parentPath, entry.name));
}

/** Every module specifier a file imports, statically or dynamically, resolved to a project-relative path. */
function importedProjectPaths(file: string, text = readFileSync(file, 'utf8')): string[] {
  const specifiers = [
    ...text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/g),
    ...text.matchAll(/import\s*\(\s*['"]([^'"]+)['"]\s*\)/g),
    ...text.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm),
  ].map((match) => match[1]!);
  return specifiers
    .filter((specifier) => specifier.startsWith('.'))
    .map((specifier) => relative(projectRoot, resolve(dirname(file), specifier)).split('\\').join('/'));
}

describe('architecture', () => {
  it('finds the imports it checks (self-test of the scanner)', () => {
    const sample = [
      "import { a } from '../orchestrator/join.js';",
      "import type {\n  B,\n} from './routes/token.js';",
      "export { c } from '../core/contract.js';",
      "const d = await import('../orchestrator/cli.js');",
      "import './side-effect.js';",
      "import { e } from 'hono';",
    ].join('\n');
    const imports = importedProjectPaths(join(projectRoot, 'core', 'app.ts'), sample);
    expect(imports).to.have.members([
      'orchestrator/join.js',
      'core/routes/token.js',
      'core/contract.js',
      'orchestrator/cli.js',
      'core/side-effect.js',
    ]);
  });

  it('core/ imports nothing from orchestrator/', () => {
    const offenders = sourceFiles(join(projectRoot, 'core')).flatMap((file) =>
      importedProjectPaths(file)
        .filter((path) => path.startsWith('orchestrator/'))
        .map((path) => `${relative(projectRoot, file)} -> ${path}`),
    );
    expect(offenders).to.deep.equal([]);
  });

  it('orchestrator/ imports from core/ only core/contract.ts', () => {
    const offenders = sourceFiles(join(projectRoot, 'orchestrator')).flatMap((file) =>
      importedProjectPaths(file)
        .filter((path) => path.startsWith('core/') && path !== 'core/contract.js')
        .map((path) => `${relative(projectRoot, file)} -> ${path}`),
    );
    expect(offenders).to.deep.equal([]);
  });
});
