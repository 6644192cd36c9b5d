// Runs a script in a fresh Node process (for state a test must not leave
// in its own: globals, Object.prototype, node flags) and resolves with the
// JSON it prints; rejects with its stderr when it fails.
import { execFile } from 'node:child_process';

export function runNodeScript(script, { nodeArgs = [], timeout = 30_000 } = {}) {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [...nodeArgs, '-e', script], { timeout }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${error.message}\n${stderr}`));
      else resolve(JSON.parse(stdout));
    });
  });
}
