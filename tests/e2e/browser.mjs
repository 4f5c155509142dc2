// Launches Debian's chromium (/usr/bin/chromium, or $CHROMIUM) headless
// through playwright-core, with a fresh profile that is removed on close,
// and records every console error and uncaught page error of its pages.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

const kFlags = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

// { context, page, errors, close() }: `errors` collects console errors and
// page errors as strings (tests assert it stays empty where it must).
export async function openBrowser({ viewport = { width: 1280, height: 800 }, colorScheme = 'light', extraArgs = [] } = {}) {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'livehub-e2e-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...kFlags, ...extraArgs],
    viewport,
    colorScheme,
    timeout: 30000,
  });
  const errors = [];
  const watch = (page) => {
    page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  };
  context.pages().forEach(watch);
  context.on('page', watch);
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context, page, errors,
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
