// Real Chromium (Debian package) clicks through the product as a person would, against the real
// functions-framework handlers, the Firestore emulator and the Google stand-in's HTML consent page.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPage } from '../../shared/web/pages.ts';
import { configuredJobs } from '../../shared/oauth/authorization.ts';
import { isTransactionCookie } from '../../shared/oauth/transaction.ts';
import type { StoredConnection } from '../../shared/store/connection/document.ts';
import { createUnsubscribeLink } from '../../shared/web/unsubscribe-link.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { launchChromium, type LaunchedChromium } from '../support/chromium.ts';

let app: TestApp;
let startServer: Server;
let startUrl: string;
let context: BrowserContext;
let browser: LaunchedChromium | undefined;

beforeAll(async () => {
  browser = await launchChromium();
  context = browser.context;
  app = await startTestApp();
  const html = startPage({
    appName: app.runtime.config.appName,
    connectUrl: app.urls.authorize,
    jobs: configuredJobs(app.runtime.config),
  });
  startServer = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(html);
  });
  await new Promise<void>((resolve) => startServer.listen(0, '127.0.0.1', resolve));
  startUrl = `http://localhost:${(startServer.address() as AddressInfo).port}/`;
});

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => startServer?.close(resolve));
  await app?.close();
});

async function connectionFor(email: string): Promise<StoredConnection | undefined> {
  const grant = app.standIn.control.grants(email)[0];
  if (!grant) return undefined;
  return (await app.db.doc(`connections/${grant.sub}`).get()).data() as
    StoredConnection | undefined;
}

async function startConsent(page: Page, email: string): Promise<void> {
  await page.goto(startUrl);
  await page.getByRole('link', { name: 'Connect your Google account' }).click();
  await page.waitForURL((url) => url.pathname.endsWith('/o/oauth2/v2/auth'));
  await page.getByLabel('Email').fill(email);
}

describe('in a real browser', () => {
  it('connects, then unsubscribes through the emailed link', async () => {
    const page = await context.newPage();
    await startConsent(page, 'browser-user@example.com');
    expect(await connectionFor('browser-user@example.com')).toBeUndefined();
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL((url) => url.pathname.endsWith('/connected'));
    await expect
      .poll(() => page.getByRole('heading', { level: 1 }).textContent())
      .toBe('Your Google account is connected');
    // The success URL is clean: no code or state in what the browser shows or keeps in history.
    expect(page.url()).toBe(app.runtime.config.successUrl);
    const connected = await connectionFor('browser-user@example.com');
    expect(connected?.state).toBe('active');
    expect(connected?.refreshToken).toMatch(/^v1\./);
    const cookies = await context.cookies(app.urls.callback);
    expect(cookies.find((cookie) => isTransactionCookie(cookie.name))).toBeUndefined();

    const keys = await app.runtime.keys('link');
    const link = createUnsubscribeLink(keys, app.urls.revoke, connected!.sub, Date.now() + 86400e3);
    await page.goto(link);
    await expect
      .poll(() => page.getByRole('heading', { level: 1 }).textContent())
      .toBe('Disconnect your Google account?');
    // Showing the confirmation changed nothing.
    expect((await connectionFor('browser-user@example.com'))?.state).toBe('active');
    await page.getByRole('button', { name: 'Disconnect' }).click();
    await expect
      .poll(() => page.getByRole('heading', { level: 1 }).textContent())
      .toBe('You are unsubscribed');
    const revoked = (await app.db.doc(`connections/${connected!.sub}`).get()).data();
    expect(revoked).toMatchObject({ state: 'revoked' });
    expect(revoked).not.toHaveProperty('refreshToken');
    expect(app.standIn.control.grants('browser-user@example.com')).toEqual([]);
    await page.close();
  });

  it('Deny shows a friendly page with a way back and stores nothing', async () => {
    const page = await context.newPage();
    await startConsent(page, 'denier@example.com');
    await page.getByRole('button', { name: 'Deny' }).click();
    await expect
      .poll(() => page.getByRole('heading', { level: 1 }).textContent())
      .toBe('You did not connect your Google account');
    const retry = page.getByRole('link', { name: 'Try again' });
    expect(await retry.getAttribute('href')).toBe(app.urls.authorize);
    expect(await connectionFor('denier@example.com')).toBeUndefined();
    expect(
      (await app.db.collection('connections').where('email', '==', 'denier@example.com').get())
        .size,
    ).toBe(0);
    await page.close();
  });

  it('unchecking the Drive permission stores nothing and says what is missing', async () => {
    const page = await context.newPage();
    await startConsent(page, 'unchecker@example.com');
    await page.getByRole('checkbox').uncheck();
    await page.getByRole('button', { name: 'Allow' }).click();
    await expect
      .poll(() => page.getByRole('heading', { level: 1 }).textContent())
      .toBe('A permission is missing');
    expect(await page.getByRole('listitem').first().textContent()).toContain('Google Drive');
    expect(
      (await app.db.collection('connections').where('email', '==', 'unchecker@example.com').get())
        .size,
    ).toBe(0);
    await page.close();
  });
});
