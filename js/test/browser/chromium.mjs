// Debian's Chromium (never a downloaded browser) as every browser test
// launches it: headless, as root (--no-sandbox), and without the
// background traffic a fresh profile starts.
import assert from 'node:assert/strict';
import fs from 'node:fs';

export const chromiumPath = process.env.SSEKIT_CHROMIUM || '/usr/bin/chromium';
// A reason to skip the browser tests (SSEKIT_SKIP_BROWSER=1), or false.
export const browserSkip = process.env.SSEKIT_SKIP_BROWSER === '1' ? 'SSEKIT_SKIP_BROWSER=1: the browser tests are skipped' : false;

export async function launchChromium(extraArgs = []) {
  assert.ok(fs.existsSync(chromiumPath), `${chromiumPath} is missing: install it (bash scripts/install-deps.sh browser) or set SSEKIT_SKIP_BROWSER=1`);
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: chromiumPath,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', ...extraArgs],
    timeout: 60_000,
  });
}
