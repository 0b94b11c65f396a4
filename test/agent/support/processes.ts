/** Dropline processes for tests that kill them: each in its own process group, so SIGKILL reaches npx, tsx and node alike. */
import { spawn, type ChildProcess } from 'child_process';
import path from 'path';
import readline from 'readline';

export const ROOT = path.join(__dirname, '..', '..', '..');

/** Start `file` (TypeScript, through tsx) and resolve with the first stdout line `ready` accepts. */
export function spawnChild<T>(children: ChildProcess[], file: string, args: string[], env: Record<string, string>, ready: (line: string) => T | null | undefined | false): Promise<{ child: ChildProcess; line: T }> {
  const child = spawn('npx', ['tsx', path.join(ROOT, file), ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (b) => (stderr += String(b)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${file} did not start: ${stderr}`)), 90_000);
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      const r = ready(line);
      if (r) {
        clearTimeout(timer);
        resolve({ child, line: r });
      }
    });
    child.once('exit', (code) => reject(new Error(`${file} exited (${code}) before it was ready: ${stderr}`)));
  });
}

/** The JSON line service-main.ts prints once listening. */
export function serviceLine(l: string): { url: string; port: number; node?: string } | null {
  try {
    const m = JSON.parse(l);
    return m.url ? m : null;
  } catch {
    return null;
  }
}

export function kill9(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    process.kill(-child.pid!, 'SIGKILL');
  });
}
