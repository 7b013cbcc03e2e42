/**
 * The demo's status field and "last seen", in real Chromium against serve: the page's status reaches
 * a Node client as an `update`; a watched user's update and offline show in the page's rows.
 */
import { chromium } from 'playwright-core';
import t from 'tap';
import { IM_EVENT } from '../src/client/index.js';
import { buildBrowserFiles } from './fixtures/browser.js';
import { presenceClient, Recorder } from './fixtures/client.js';
import { WAIT_MS } from './fixtures/mqtt.js';
import { serve } from './fixtures/server.js';
import { requireProgram } from './fixtures/services.js';

t.test('demo: set a status, see others\' status and when they were last seen', async (t) => {
  const executablePath = requireProgram(t, 'chromium', ['/usr/bin/chromium']);
  if (!executablePath) return;
  await buildBrowserFiles();
  const { httpUrl, mqttUrl } = await serve(t);
  const browser = await chromium.launch({ executablePath, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  t.teardown(() => browser.close());
  const page = await (await browser.newContext({ viewport: { width: 1100, height: 900 } })).newPage();
  page.setDefaultTimeout(WAIT_MS);
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(httpUrl);

  const bob = await presenceClient(t, mqttUrl, 'bob', { data: { name: 'Bob' } });
  const bobSees = new Recorder(bob, ['USER_PRESENCE', 'SNAPSHOT']);
  await page.fill('#user-id', 'alice');
  await page.fill('#user-name', 'Alice');
  await page.click('#connect');
  await page.waitForSelector('#status[data-status=connected]');
  await bob.subscribeUserPresence({ userIds: ['alice'] });
  await bobSees.next('alice snapshot');

  await page.fill('#user-status', 'in a meeting');
  await page.click('#status-form button');
  const update = await bobSees.find((r) => r.event === IM_EVENT.USER_PRESENCE, "alice's update");
  t.match(update.payload, { action: 'update', id: 'alice', data: { name: 'Alice', status: 'in a meeting' } }, 'the status is an update of the data');

  await page.fill('#watch-ids', 'bob');
  await page.click('#watch-form button');
  await page.waitForSelector('#roster li[data-user="bob"][data-online="true"]');
  await bob.updatePresence({ data: { name: 'Bob', status: 'busy' } });
  await page.waitForFunction(() => document.querySelector('#roster li[data-user="bob"] .who span')?.textContent?.includes('busy'));
  t.match(await page.textContent('#roster li[data-user="bob"] .who span'), /^bob · online · busy$/);
  await bob.disconnect();
  await page.waitForSelector('#roster li[data-user="bob"][data-online="false"]');
  t.match(await page.textContent('#roster li[data-user="bob"] .who span'), /^bob · offline · busy · last seen just now$/);
  t.same(errors, [], 'no errors on the page');
});
