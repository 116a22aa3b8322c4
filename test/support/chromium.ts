import fs from 'node:fs';
import { Browser, chromium } from 'playwright-core';
import { describeRequiring } from './ci';

/** Debian's chromium package: `.ci/run` installs it with apt when it is missing. playwright-core never downloads a browser. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const chromiumAvailable = (): boolean => fs.existsSync(CHROMIUM_PATH);

/** For `describe` blocks: fails under CI when chromium is missing; otherwise skips loudly (test/support/ci.ts). */
export const describeWithChromium = (name: string, fn: () => void): void =>
  describeRequiring({ what: `chromium at ${CHROMIUM_PATH} (apt-get install chromium)`, available: chromiumAvailable }, name, fn);

/**
 * A headless Chromium for one test file. Playwright gives it a fresh temporary --user-data-dir and removes it on
 * close; each test opens its own context (its own storage: its own buyer). Nothing in the background phones out.
 */
export const launchChromium = (): Promise<Browser> =>
  chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
