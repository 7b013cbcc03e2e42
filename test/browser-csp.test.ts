/**
 * The demo page under its own Content-Security-Policy (no 'unsafe-eval', no 'unsafe-inline'), in real
 * Chromium: it connects and shows presence, and the browser reports no violation. A deliberate inline
 * script at the end proves the violation listener hears what the policy refuses.
 */
import { chromium, type Browser, type Page } from 'playwright-core';
import t from 'tap';
import { buildBrowserFiles } from './fixtures/browser.js';
import { WAIT_MS } from './fixtures/mqtt.js';
import { serve } from './fixtures/server.js';
import { requireProgram } from './fixtures/services.js';

declare global {
  interface Window {
    cspViolations: string[];
  }
}

async function openPage(browser: Browser, url: string): Promise<{ page: Page; errors: string[] }> {
  const page = await (await browser.newContext()).newPage();
  page.setDefaultTimeout(WAIT_MS);
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  // Registered before any of the page's own scripts run, so a violation during loading counts too.
  await page.addInitScript(() => {
    window.cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.cspViolations.push(`${e.effectiveDirective} blocked ${e.blockedURI || 'inline'}`);
    });
  });
  await page.goto(url);
  return { page, errors };
}

async function signIn(page: Page, id: string): Promise<void> {
  await page.fill('#user-id', id);
  await page.click('#connect');
  await page.waitForSelector('#status[data-status=connected]');
}

t.test('the demo page works under a strict Content-Security-Policy', async (t) => {
  const executablePath = requireProgram(t, 'chromium', ['/usr/bin/chromium']);
  if (!executablePath) return;
  await buildBrowserFiles();
  const { httpUrl } = await serve(t);

  for (const path of ['/', '/demo.js', '/client/presence-bridge.js']) {
    const policy = (await fetch(`${httpUrl}${path}`)).headers.get('content-security-policy') ?? '';
    t.match(policy, /script-src 'self'/, `${path} is served with a script-src`);
    t.notMatch(policy, /unsafe-eval|unsafe-inline/, `${path}: no 'unsafe-eval', no 'unsafe-inline'`);
  }

  const browser = await chromium.launch({
    executablePath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  t.teardown(() => browser.close());

  const alice = await openPage(browser, httpUrl);
  const bob = await openPage(browser, httpUrl);
  await signIn(alice.page, 'alice');
  await alice.page.fill('#watch-ids', 'bob');
  await alice.page.click('#watch-form button');
  await signIn(bob.page, 'bob');
  await alice.page.waitForSelector('#roster li[data-user="bob"][data-online="true"]');
  await alice.page.fill('#group-id', 'lobby');
  await alice.page.click('#join-form button');
  await alice.page.waitForSelector('[data-group="lobby"] li[data-user="alice"][data-online="true"]');
  t.pass('connected over the WebSocket, saw bob come online, joined a group');

  for (const [name, { page, errors }] of Object.entries({ alice, bob })) {
    t.same(await page.evaluate(() => window.cspViolations), [], `${name}: no CSP violation reported`);
    t.same(errors, [], `${name}: no console error`);
  }

  // The control: an inline script, which the policy refuses, is heard as a violation.
  await alice.page.evaluate(() => {
    const script = document.createElement('script');
    script.textContent = 'window.inlineRan = true';
    document.head.append(script);
  });
  await alice.page.waitForFunction(() => window.cspViolations.length > 0);
  t.match(await alice.page.evaluate(() => window.cspViolations), [/^script-src-elem blocked inline$/], 'the listener hears a refused inline script');
  t.equal(await alice.page.evaluate(() => (window as unknown as { inlineRan?: boolean }).inlineRan), undefined, 'and the script did not run');
});
