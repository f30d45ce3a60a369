/// <reference lib="dom" />
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { loadConfig } from '../../../src/config/config.js';
import { startServer, type RunningServer } from '../../../src/server.js';
import { testEnv } from '../../helpers/processes.js';

/**
 * The dashboard in a real browser (Debian's chromium driven by playwright-core): sign-in, a key shown once and used,
 * a dev-carrier call followed live, revocation, refused forgeries, a view-only user, and every page screenshotted at
 * desktop and phone width and checked by axe-core. Without chromium the suite is skipped, except under CI=true.
 */
const CHROMIUM = process.env.DIALPLANE_CHROMIUM ?? '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI === 'true') throw new Error(`chromium is required under CI=true (${CHROMIUM} is missing; .ci/run installs it)`);
const skip = haveChromium ? false : `chromium not installed at ${CHROMIUM} (apt-get install chromium)`;

const PASSWORD = 'correct horse battery staple';
const VIEWER_PASSWORD = 'view only but not blind';
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

describe('dashboard in a browser', { skip }, () => {
  let dataDir: string;
  let profileDir: string;
  let outDir: string;
  let server: RunningServer;
  let base: string;
  let context: BrowserContext;
  let page: Page;
  let accountId: string;
  const shots: string[] = [];

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'dialplane-dashboard-data-'));
    profileDir = mkdtempSync(join(tmpdir(), 'dialplane-dashboard-chromium-'));
    outDir = join(tmpdir(), `dialplane-dashboard-screenshots-${process.pid}`);
    mkdirSync(outDir, { recursive: true });
    const config = loadConfig(testEnv({ DIALPLANE_DATA_DIR: dataDir, DIALPLANE_HTTP_PORT: '0', DIALPLANE_TRUNK_KEEPALIVE_S: '1' }));
    server = await startServer(config, pino({ level: 'silent' }));
    base = server.url;
    const { services } = server;
    const [account] = await services.accounts.list();
    accountId = account!.id;
    const owner = await services.accounts.owner(accountId);
    await services.signIn.setPassword(accountId, owner.id, PASSWORD);
    const viewer = await services.accounts.addUser(accountId, { email: 'viewer@example.com', viewOnly: true });
    await services.signIn.setPassword(accountId, viewer.id, VIEWER_PASSWORD);
    // Something on every page: an extension with a device, an SMS with its history.
    const extension = await services.extensions.create(accountId, { name: 'Front desk', number: '309' });
    await services.extensions.addDevice(accountId, extension.id);
    await services.sms.send(accountId, { from: '+14155551234', to: '+14155550199', body: 'Hello from the dashboard test' });
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: DESKTOP,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(15_000);
  });

  after(async () => {
    await context?.close();
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(profileDir, { recursive: true, force: true });
    if (outDir) console.log(`dashboard screenshots (${shots.length}) in ${outDir}`);
  });

  /** A screenshot at desktop and phone width, and axe-core's serious and critical findings, which must be none. */
  async function capture(name: string): Promise<void> {
    for (const [label, size] of [['desktop', DESKTOP], ['phone', PHONE]] as const) {
      await page.setViewportSize(size);
      const file = join(outDir, `${name}-${label}.png`);
      await page.screenshot({ path: file, fullPage: true });
      shots.push(file);
    }
    await page.setViewportSize(DESKTOP);
    await page.evaluate(axeSource);
    const violations = await page.evaluate(async () => {
      const axe = (globalThis as unknown as { axe: { run(context: unknown, options: unknown): Promise<{ violations: Array<{ id: string; impact: string | null; nodes: Array<{ target: unknown }> }> }> } }).axe;
      const result = await axe.run(document, { resultTypes: ['violations'] });
      return result.violations
        .filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => `${v.id} (${v.impact}): ${JSON.stringify(v.nodes.slice(0, 3).map((n) => n.target))}`);
    });
    assert.deepEqual(violations, [], `${name}: accessibility violations`);
  }

  async function signIn(email: string, password: string): Promise<number> {
    await page.goto(`${base}/dashboard/sign-in`);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(password);
    const [response] = await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Sign in' }).click()]);
    return response?.status() ?? 0;
  }

  async function me(key: string): Promise<number> {
    return (await fetch(`${base}/api/v1/me`, { headers: { authorization: `Bearer ${key}` } })).status;
  }

  let key = '';

  test('a wrong password is refused and a right one signs in', async () => {
    await page.goto(`${base}/dashboard/keys`);
    assert.match(page.url(), /\/dashboard\/sign-in$/, 'a page without a session sends to the sign-in');
    await capture('sign-in');
    assert.equal(await signIn('owner@dialplane.local', 'not the password'), 401);
    assert.match(await page.getByRole('alert').innerText(), /email or password is not valid/);
    assert.equal(await signIn('owner@dialplane.local', PASSWORD), 200);
    assert.match(page.url(), /\/dashboard\/calls$/);
    const cookie = (await context.cookies(`${base}/dashboard/calls`)).find((c) => c.name === 'dialplane_session');
    assert.ok(cookie?.httpOnly, 'the session cookie is HttpOnly');
    assert.equal(cookie?.sameSite, 'Strict');
  });

  test('a new key is shown exactly once, works against /api/v1/me, and is refused once revoked', async () => {
    await page.goto(`${base}/dashboard/keys`);
    await page.getByLabel('Name').fill('browser test');
    await page.getByRole('button', { name: 'Create key' }).click();
    await page.waitForSelector('#revealed-secret');
    key = (await page.locator('#revealed-secret').innerText()).trim();
    assert.match(key, /^dk_live_/);
    await capture('keys-new-key');
    assert.equal(await me(key), 200);
    await page.reload();
    assert.equal(await page.locator('#revealed-secret').count(), 0, 'the key is not shown again');
    assert.ok(!(await page.content()).includes(key), 'the full key is nowhere in the page');
    assert.ok((await page.content()).includes(`…${key.slice(-4)}`), 'its last four characters are');
    await capture('keys');
  });

  test('a forged CSRF token is refused', async () => {
    await page.goto(`${base}/dashboard/keys`);
    await page.getByLabel('Name').fill('forged');
    await page.locator('form:has(#key-name) input[name=_csrf]').evaluate((input) => ((input as HTMLInputElement).value = 'forged-token'));
    const [response] = await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Create key' }).click()]);
    assert.equal(response?.status(), 403);
    assert.match(await page.getByRole('alert').innerText(), /CSRF/);
    const keys = await server.services.keys.list(accountId);
    assert.ok(!keys.some((k) => k.name === 'forged'), 'no key was made');
    // The sign-in form has its own token (double submit): a cross-site sign-in is refused too.
    const signInForgery = await fetch(`${base}/dashboard/sign-in`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: 'x', email: 'owner@dialplane.local', password: PASSWORD }).toString(),
      redirect: 'manual',
    });
    assert.equal(signInForgery.status, 403);
  });

  test('webhook endpoint added from the dashboard', async () => {
    await page.goto(`${base}/dashboard/webhooks`);
    await page.getByLabel('URL').fill('http://127.0.0.1:9/hooks');
    await page.getByRole('button', { name: 'Add endpoint' }).click();
    await page.waitForSelector('#revealed-secret');
    assert.match(await page.locator('#revealed-secret').innerText(), /^whsec_/);
  });

  test('try a call: ringing, answered and completed arrive live, then its timeline', async () => {
    await page.goto(`${base}/dashboard/calls`);
    await page.getByLabel('To').fill('+14155550100');
    await page.getByLabel('Once answered').selectOption('say');
    await Promise.all([page.waitForURL(/\/dashboard\/calls\/call_/), page.getByRole('button', { name: 'Place call' }).click()]);
    await page.waitForSelector('#call-state');
    // The states the page shows, as they change in place (no navigation: the marker survives).
    await page.evaluate(() => {
      const w = window as unknown as { seen: string[]; marker: string };
      w.marker = 'same page';
      w.seen = [];
      const note = () => {
        const text = document.getElementById('call-state')?.textContent?.trim().split(/\s+/)[0] ?? '';
        if (w.seen[w.seen.length - 1] !== text) w.seen.push(text);
      };
      note();
      new MutationObserver(note).observe(document.getElementById('timeline')!, { childList: true, subtree: true, characterData: true });
    });
    await page.waitForFunction(() => document.getElementById('call-state')?.textContent?.includes('completed'), undefined, { timeout: 30_000 });
    const { seen, marker } = await page.evaluate(() => window as unknown as { seen: string[]; marker: string }).then(async () =>
      page.evaluate(() => ({ seen: (window as unknown as { seen: string[] }).seen, marker: (window as unknown as { marker: string }).marker })),
    );
    assert.equal(marker, 'same page', 'no reload happened');
    assert.ok(seen[0] !== 'completed', `the call was live when its page opened (${seen.join(' → ')})`);
    assert.ok(seen.includes('answered') && seen.at(-1) === 'completed', `answered then completed arrived live: ${seen.join(' → ')}`);
    const events = await page.locator('#call-events li').evaluateAll((items) => items.map((li) => li.getAttribute('data-state')));
    for (const state of ['ringing', 'answered', 'ended']) assert.ok(events.includes(state), `the timeline lists ${state}: ${events.join(', ')}`);
    const text = await page.locator('#timeline').innerText();
    assert.match(text, /SIP 180/);
    assert.match(text, /SIP 200/);
    assert.match(text, /NORMAL_CLEARING/);
    assert.match(await page.locator('#call-cost').innerText(), /credits/);
    await page.waitForSelector('figure.quality svg');
    await capture('call-timeline');
  });

  test('the call list shows a call placed through the API arrive and end without a reload', async () => {
    await page.goto(`${base}/dashboard/calls`);
    await page.evaluate(() => ((window as unknown as { marker: string }).marker = 'same page'));
    const res = await fetch(`${base}/dialplane/v1/calls`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ from: '+14155551234', to: '+14155557123', program: [{ verb: 'gather', numDigits: 3, timeout: 5 }] }),
    });
    assert.equal(res.status, 201, await res.clone().text());
    const { call_id: callId } = (await res.json()) as { call_id: string };
    await page.waitForSelector(`#row-${callId}`);
    await page.waitForFunction((id) => document.getElementById(`row-${id}`)?.textContent?.includes('completed'), callId, { timeout: 30_000 });
    assert.equal(await page.evaluate(() => (window as unknown as { marker: string }).marker), 'same page');
    await capture('calls');
    await page.goto(`${base}/dashboard/calls/${callId}`);
    assert.match(await page.locator('#call-keys').innerText(), /123/, 'the keys the callee pressed');
  });

  test('the delivery log shows attempts and re-sends', async () => {
    await page.goto(`${base}/dashboard/webhooks`);
    await page.waitForSelector('a[href*="/dashboard/webhooks/deliveries/"]');
    await capture('webhooks');
    await page.locator('a[href*="/dashboard/webhooks/deliveries/"]').first().click();
    await page.waitForSelector('h1:has-text("Delivery")');
    await capture('webhook-delivery');
    const before = page.url();
    await page.getByRole('button', { name: /Re-send delivery/ }).click();
    await page.waitForURL((u) => u.toString() !== before && u.toString().includes('/webhooks/deliveries/'));
    assert.match(await page.getByRole('status').first().innerText(), /Sent again/);
  });

  test('an application with an invalid program is refused at the verb and field', async () => {
    await page.goto(`${base}/dashboard/applications`);
    await page.getByLabel('Name', { exact: true }).fill('IVR');
    await page.getByLabel(/^Program/).fill('[{"verb":"say","text":"Hi"},{"verb":"gather","numDigits":99}]');
    await page.getByRole('button', { name: 'Create application' }).click();
    const error = await page.locator('#program-error').innerText();
    assert.match(error, /verb 1/);
    assert.match(error, /numDigits/);
    assert.equal(await page.getByLabel(/^Program/).getAttribute('aria-invalid'), 'true');
    await capture('applications-invalid');
    await page.getByLabel(/^Program/).fill('[{"verb":"say","text":"Hi"}]');
    await page.getByRole('button', { name: 'Create application' }).click();
    await page.waitForSelector('#revealed-secret');
    await capture('applications');
  });

  test("an application's program is edited: a bad one is refused at the verb and field, a good one saved and listed", async () => {
    await page.goto(`${base}/dashboard/applications`);
    await Promise.all([page.waitForURL(/\/applications\/app_\w+\/edit$/), page.getByRole('link', { name: 'Edit application IVR' }).click()]);
    assert.equal(await page.getByLabel('Name', { exact: true }).inputValue(), 'IVR');
    assert.match(await page.getByLabel(/^Program/).inputValue(), /"text": "Hi"/, 'the stored program, to edit');
    await page.getByLabel(/^Program/).fill('[{"verb":"say","text":"Hi"},{"verb":"gather","numDigits":99}]');
    await page.getByRole('button', { name: 'Save application' }).click();
    const where = await page.locator('#program-error .where').innerText();
    assert.match(where, /verb 1/);
    assert.match(where, /field numDigits/);
    assert.equal(await page.getByLabel(/^Program/).getAttribute('aria-invalid'), 'true');
    await capture('application-edit-invalid');
    const editUrl = new URL(page.url()).pathname;
    const forged = await page.evaluate(
      async (path) =>
        (
          await fetch(path, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({ _csrf: 'forged-token', name: 'Forged', kind: 'program', program: '[{"verb":"hangup"}]' }).toString(),
          })
        ).status,
      editUrl,
    );
    assert.equal(forged, 403, 'the edit form needs the session CSRF token');
    await page.getByLabel(/^Program/).fill('[{"verb":"say","text":"Edited greeting"},{"verb":"hangup"}]');
    await Promise.all([page.waitForURL(/\/dashboard\/applications$/), page.getByRole('button', { name: 'Save application' }).click()]);
    assert.match(await page.getByRole('status').first().innerText(), /Application IVR updated/);
    const card = page.locator('section.card', { has: page.getByRole('heading', { name: /^IVR/ }) });
    assert.match((await card.locator('pre').textContent()) ?? '', /Edited greeting/, 'the list shows the new program');
    const stored = (await server.services.applications.list(accountId)).find((a) => a.name === 'IVR');
    assert.deepEqual(stored?.program, [{ verb: 'say', text: 'Edited greeting' }, { verb: 'hangup' }]);
  });

  test('every other page renders, at both widths, without serious accessibility violations', async () => {
    for (const path of ['numbers', 'extensions', 'gateway-apps', 'messages', 'credits', 'status']) {
      const response = await page.goto(`${base}/dashboard/${path}`);
      assert.equal(response?.status(), 200, path);
      await capture(path);
    }
    await page.goto(`${base}/dashboard/messages`);
    await page.locator('a[href*="/dashboard/messages/"]').first().click();
    await page.waitForSelector('h1:has-text("Message")');
    assert.match(await page.locator('main').innerText(), /Status history/);
    await capture('message');
    await page.goto(`${base}/dashboard/status`);
    assert.match(await page.locator('main').innerText(), /answers OPTIONS/, 'the dev carrier answers the keepalive');
    assert.match(await page.locator('#smsc').innerText(), /bound/);
  });

  test('revoking the key from the dashboard makes the API refuse it', async () => {
    await page.goto(`${base}/dashboard/keys`);
    await page.getByRole('button', { name: 'Revoke key browser test' }).click();
    await page.waitForSelector('.flash.ok');
    assert.equal(await me(key), 401);
  });

  test('a view-only user sees but cannot change; sign-out ends the session', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/dashboard\/sign-in$/);
    assert.equal(await signIn('viewer@example.com', VIEWER_PASSWORD), 200);
    await page.goto(`${base}/dashboard/keys`);
    assert.equal(await page.getByRole('button', { name: 'Create key' }).count(), 0, 'no form to create keys');
    assert.equal(await page.getByRole('button', { name: /^Revoke key/ }).count(), 0);
    const csrf = await page.locator('input[name=_csrf]').first().inputValue();
    const status = await page.evaluate(async (token) => {
      const response = await fetch('/dashboard/keys', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ _csrf: token, name: 'sneaky' }).toString(),
      });
      return response.status;
    }, csrf);
    assert.equal(status, 403);
    assert.ok(!(await server.services.keys.list(accountId)).some((k) => k.name === 'sneaky'));
    await capture('keys-view-only');
    // No edit form for an application either, and its POST is refused.
    const ivr = (await server.services.applications.list(accountId)).find((a) => a.name === 'IVR')!;
    await page.goto(`${base}/dashboard/applications/${ivr.id}/edit`);
    assert.equal(await page.getByRole('button', { name: 'Save application' }).count(), 0, 'no edit form');
    const editStatus = await page.evaluate(
      async ({ token, id }) =>
        (
          await fetch(`/dashboard/applications/${id}/edit`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({ _csrf: token, name: 'Sneaky', kind: 'program', program: '[{"verb":"hangup"}]' }).toString(),
          })
        ).status,
      { token: csrf, id: ivr.id },
    );
    assert.equal(editStatus, 403);
    assert.equal((await server.services.applications.get(accountId, ivr.id)).name, 'IVR');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/dashboard\/sign-in$/);
    await page.goto(`${base}/dashboard/calls`);
    assert.match(page.url(), /\/dashboard\/sign-in$/);
  });
});
