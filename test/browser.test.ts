import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import t from 'tap';
import { buildBrowserFiles } from './fixtures/browser.js';
import { presenceClient } from './fixtures/client.js';
import { WAIT_MS } from './fixtures/mqtt.js';
import { serve } from './fixtures/server.js';
import { requireProgram } from './fixtures/services.js';

/** Set by `npm run screenshot` to refresh docs/demo.png and docs/demo-phone.png; off by default so tests leave docs/ alone. */
const SCREENSHOT = process.env.PRESENCE_SCREENSHOT === '1';

async function openDemo(browser: Browser, url: string, viewport: { width: number; height: number }): Promise<{ page: Page; errors: string[] }> {
  // A context per user: separate storage, separate WebSocket, like two people on two machines.
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  await page.goto(url);
  return { page, errors };
}

async function signIn(page: Page, id: string, name: string, colour: string): Promise<void> {
  await page.fill('#user-id', id);
  await page.fill('#user-name', name);
  await page.locator('#user-colour').evaluate((input: HTMLInputElement, value) => {
    input.value = value;
    input.dispatchEvent(new Event('input'));
  }, colour);
  await page.click('#connect');
  await page.waitForSelector('#status[data-status=connected]');
}

async function watchUsers(page: Page, ids: string): Promise<void> {
  await page.fill('#watch-ids', ids);
  await page.click('#watch-form button');
}

async function join(page: Page, group: string): Promise<void> {
  await page.fill('#group-id', group);
  await page.click('#join-form button');
  await page.waitForSelector(`[data-group="${group}"]`);
}

const rosterRow = (id: string, online: boolean) => `#roster li[data-user="${id}"][data-online="${online}"]`;
const memberRow = (group: string, id: string, online: boolean) => `[data-group="${group}"] li[data-user="${id}"][data-online="${online}"]`;
const groupCount = (group: string, count: number) => `[data-group="${group}"] .count[data-count="${count}"]`;

t.test('two browsers as two users: online, a shared group, offline when a page closes', async (t) => {
  const executablePath = requireProgram(t, 'chromium', ['/usr/bin/chromium']);
  if (!executablePath) return;
  await buildBrowserFiles();
  const { httpUrl, mqttUrl } = await serve(t);
  const browser = await chromium.launch({
    executablePath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  t.teardown(() => browser.close());

  const alice = await openDemo(browser, httpUrl, { width: 1100, height: 900 });
  // bob is on a phone
  const bob = await openDemo(browser, httpUrl, { width: 390, height: 844 });

  await signIn(alice.page, 'alice', 'Alice', '#ec4899');
  await watchUsers(alice.page, 'bob, carol');
  await alice.page.waitForSelector('#roster li[data-user="carol"][data-online="unknown"]');
  t.pass('alice watches bob and carol, neither ever seen');

  await signIn(bob.page, 'bob', 'Bob', '#22c55e');
  await alice.page.waitForSelector(rosterRow('bob', true));
  t.equal(await alice.page.textContent(`${rosterRow('bob', true)} .who b`), 'Bob', "bob's name comes with his online event");
  t.equal(
    await alice.page.locator(`${rosterRow('bob', true)} .avatar`).evaluate((el) => getComputedStyle(el).backgroundColor),
    'rgb(34, 197, 94)',
    "and his avatar colour",
  );

  await watchUsers(bob.page, 'alice');
  await bob.page.waitForSelector(rosterRow('alice', true));
  t.pass('bob sees alice online at once, from her retained state');

  // dave, a plain Node client, was in the lobby before anyone and has gone: an offline member.
  const dave = await presenceClient(t, mqttUrl, 'dave', { data: { name: 'Dave' } });
  await dave.subscribeGroup({ groupIds: ['lobby'] });
  await dave.disconnect();

  await join(alice.page, 'lobby');
  await alice.page.waitForSelector(memberRow('lobby', 'alice', true));
  await alice.page.waitForSelector(memberRow('lobby', 'dave', false));
  await alice.page.waitForSelector(groupCount('lobby', 1));
  t.pass('joining lists the members already there (groupHereNow), offline ones too');
  await join(bob.page, 'lobby');
  await alice.page.waitForSelector(memberRow('lobby', 'bob', true));
  await alice.page.waitForSelector(groupCount('lobby', 2));
  await bob.page.waitForSelector(groupCount('lobby', 2));
  await bob.page.waitForSelector(memberRow('lobby', 'alice', true));
  await bob.page.waitForSelector(memberRow('lobby', 'dave', false));
  t.equal(await bob.page.textContent(`${memberRow('lobby', 'alice', true)} .who b`), 'Alice', "a page joining after alice lists her, with her data");
  t.pass('both are in the lobby, two online, on both pages');

  // carol, a plain Node client, joins the lobby too and leaves again: the page follows.
  const carol = await presenceClient(t, mqttUrl, 'carol', { data: { name: 'Carol', avatar: '#f59e0b' } });
  await alice.page.waitForSelector(rosterRow('carol', true));
  await carol.subscribeGroup({ groupIds: ['lobby'] });
  await alice.page.waitForSelector(groupCount('lobby', 3));
  await carol.disconnect();
  await alice.page.waitForSelector(rosterRow('carol', false));
  await alice.page.waitForSelector(memberRow('lobby', 'carol', false));
  await alice.page.waitForSelector(groupCount('lobby', 2));
  // bob's page, which learned of carol only from events, follows her the same way.
  await bob.page.waitForSelector(memberRow('lobby', 'carol', false));

  if (SCREENSHOT) {
    const docs = fileURLToPath(new URL('../docs/', import.meta.url));
    await mkdir(docs, { recursive: true });
    await alice.page.screenshot({ path: `${docs}demo.png`, fullPage: true });
    await bob.page.screenshot({ path: `${docs}demo-phone.png`, fullPage: true });
  }
  const overflow = await bob.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  t.ok(overflow <= 0, `nothing is wider than a phone screen (overflow ${overflow}px)`);

  await bob.page.close();
  await alice.page.waitForSelector(rosterRow('bob', false));
  await alice.page.waitForSelector(memberRow('lobby', 'bob', false));
  await alice.page.waitForSelector(groupCount('lobby', 1));
  t.pass('bob goes offline for alice when his page closes');
  t.match(await alice.page.textContent('#log'), /Bob \(bob\) is offline/);

  t.same(alice.errors, [], "no errors on alice's page");
  t.same(bob.errors, [], "no errors on bob's page");
});

t.test('the demo asks for a password or a token only when the server requires them', async (t) => {
  const executablePath = requireProgram(t, 'chromium', ['/usr/bin/chromium']);
  if (!executablePath) return;
  await buildBrowserFiles();
  const { writeUsersFile } = await import('./fixtures/auth.js');
  const { writeFileSync } = await import('node:fs');
  const dir = t.testdir();
  const usersFile = await writeUsersFile(`${dir}/users.json`, { alice: { password: 'alice-pw' } });
  writeFileSync(`${dir}/secret.txt`, 's'.repeat(32) + '\n');
  const { SignJWT } = await import('jose');
  const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('bob').setExpirationTime('1h').sign(Buffer.from('s'.repeat(32)));
  const open = await serve(t);
  const locked = await serve(t, { usersFile, jwtSecretFile: `${dir}/secret.txt` });
  const browser = await chromium.launch({ executablePath, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  t.teardown(() => browser.close());

  const plain = await openDemo(browser, open.httpUrl, { width: 1100, height: 900 });
  await plain.page.waitForLoadState('networkidle');
  t.notOk(await plain.page.isVisible('#user-password'), 'no password field on an open server');
  t.notOk(await plain.page.isVisible('#user-token'), 'no token field either');

  const alice = await openDemo(browser, locked.httpUrl, { width: 1100, height: 900 });
  await alice.page.waitForSelector('#user-password', { state: 'visible' });
  await alice.page.waitForSelector('#user-token', { state: 'visible' });
  await alice.page.fill('#user-password', 'alice-pw');
  await signIn(alice.page, 'alice', 'Alice', '#ec4899');
  t.pass('alice signs in with her password');

  const bob = await openDemo(browser, locked.httpUrl, { width: 390, height: 844 });
  await bob.page.waitForSelector('#user-token', { state: 'visible' });
  await bob.page.fill('#user-token', token);
  await signIn(bob.page, 'bob', 'Bob', '#22c55e');
  t.pass('bob signs in with a token');

  const mallory = await openDemo(browser, locked.httpUrl, { width: 390, height: 844 });
  await mallory.page.waitForSelector('#user-password', { state: 'visible' });
  await mallory.page.fill('#user-id', 'alice');
  await mallory.page.fill('#user-password', 'wrong');
  await mallory.page.click('#connect');
  await mallory.page.waitForSelector('#error:not([hidden])');
  t.match(await mallory.page.textContent('#error'), /bad user id or password/);
  t.same([...plain.errors, ...alice.errors, ...bob.errors], [], 'no errors on the pages');
});
