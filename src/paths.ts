/**
 * Where the project's own files are, whether the code runs from its TypeScript sources (jest, tsx)
 * or from the compiled bundle in dist/ (bin/dropline.js): the nearest folder above this module that
 * holds Dropline's package.json.
 */
import fs from 'fs';
import path from 'path';

let root: string | null = null;

export function repoRoot(): string {
  if (root) return root;
  let dir = __dirname;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    try {
      if (JSON.parse(fs.readFileSync(pkg, 'utf8')).name === 'dropline') return (root = dir);
    } catch {
      /* not here */
    }
    const up = path.dirname(dir);
    if (up === dir) throw Object.assign(new Error(`no Dropline package.json above ${__dirname}`), { code: 'NO_PACKAGE_ROOT' });
    dir = up;
  }
}

/** True when this code runs from the compiled bundle (dist/*.js) rather than the TypeScript sources. */
export function runningCompiled(): boolean {
  return !__filename.endsWith('.ts');
}
