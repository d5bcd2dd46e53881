import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { chromium, type Browser } from 'playwright-core';

/** Debian's Chromium, where the machine has one. */
const SYSTEM_CHROMIUM = '/usr/bin/chromium';

/**
 * A headless Chromium for the browser tests, with nothing to install by hand: `CHROMIUM_PATH` when set,
 * else the system's Chromium, else the one `@sparticuz/chromium` carries inside its npm package
 * (unpacked to /tmp on first use, a few seconds once per boot).
 */
export async function chromiumPath(): Promise<string> {
  const chosen = process.env['CHROMIUM_PATH'];
  if (chosen !== undefined) {
    if (!existsSync(chosen)) throw new Error(`CHROMIUM_PATH names no file: ${chosen}`);
    return chosen;
  }
  if (existsSync(SYSTEM_CHROMIUM)) return SYSTEM_CHROMIUM;
  // The package is an ES module that finds its files through import.meta, which Jest's CommonJS
  // transform cannot run: unpack it in a Node process of its own.
  const unpack = "import('@sparticuz/chromium').then((m) => m.default.executablePath()).then((p) => process.stdout.write(p))";
  const { stdout } = await promisify(execFile)(process.execPath, ['-e', unpack], { cwd: __dirname });
  return stdout;
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: await chromiumPath(),
    // Tests run as root with no network: no sandbox, no GPU, and no calls home.
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}
