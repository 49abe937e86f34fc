import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { startTestStack, type TestStack } from './stack.js';

/** Debian's chromium (installed by .ci/run); never a downloaded browser. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const SCREENSHOT_DIR = join(process.cwd(), 'test-output', 'screenshots');

/** Headless, offline-friendly: no background traffic, no updates, no sync. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export interface HttpFailure {
  method: string;
  path: string;
  status: number;
}

export interface DashboardPage {
  page: Page;
  context: BrowserContext;
  /** Console errors and uncaught page errors: a test fails when any is left. */
  problems: string[];
  /** Every response with status >= 400, so a test can say exactly which ones it expected. */
  httpFailures: HttpFailure[];
  close(): Promise<void>;
}

/**
 * A fresh browser context (its own sessionStorage) on the dashboard. Chromium also logs every
 * 4xx as a console error ("Failed to load resource"); those are kept in `httpFailures` instead,
 * where the test checks them against the failures it provoked.
 */
export async function openDashboard(browser: Browser, baseUrl: string): Promise<DashboardPage> {
  // UTC, so what a test types in a datetime-local field maps to one known instant.
  const context = await browser.newContext({
    viewport: { width: 1360, height: 900 },
    baseURL: baseUrl,
    timezoneId: 'UTC',
    locale: 'en-US',
  });
  const page = await context.newPage();
  const problems: string[] = [];
  const httpFailures: HttpFailure[] = [];
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    if (msg.text().startsWith('Failed to load resource: the server responded with a status of')) return;
    problems.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  page.on('requestfailed', (req) => problems.push(`requestfailed: ${req.method()} ${req.url()}`));
  page.on('response', (res) => {
    if (res.status() < 400) return;
    httpFailures.push({
      method: res.request().method(),
      path: new URL(res.url()).pathname,
      status: res.status(),
    });
  });
  return { page, context, problems, httpFailures, close: () => context.close() };
}

/** A full-page screenshot under test-output/screenshots/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}

/** The session token of an account made over HTTP, put in the tab as the login page would. */
export async function signedIn(dash: DashboardPage, jwt: string): Promise<Page> {
  const { page } = dash;
  await page.goto('/dashboard/');
  await page.evaluate((t) => sessionStorage.setItem('gonka-gateway.session', t), jwt);
  await page.goto('/dashboard/#/overview');
  await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
  return page;
}

/** A test file's stack (`env` for startTestStack) and browser, started once for all its tests. */
export function useStackAndBrowser(env: Record<string, string> = {}): {
  readonly stack: TestStack;
  readonly browser: Browser;
} {
  let stack: TestStack | undefined;
  let browser: Browser | undefined;
  beforeAll(async () => {
    [stack, browser] = await Promise.all([startTestStack({ env }), launchBrowser()]);
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });
  return {
    get stack() {
      if (!stack) throw new Error('the test stack is started in beforeAll');
      return stack;
    },
    get browser() {
      if (!browser) throw new Error('the browser is launched in beforeAll');
      return browser;
    },
  };
}

/**
 * A test file's stack and browser, started once, and a fresh dashboard tab per test (closed after
 * it): `open()` gives the tab's page, `stack` the running gateway.
 */
export function useDashboardTabs(): {
  readonly stack: TestStack;
  /** The tab open() opened, for what it saw (problems, failed requests). */
  readonly dash: DashboardPage;
  open(): Promise<Page>;
} {
  const sb = useStackAndBrowser();
  let dash: DashboardPage | undefined;
  afterEach(async () => {
    await dash?.close();
    dash = undefined;
  });
  return {
    get stack() {
      return sb.stack;
    },
    get dash() {
      if (!dash) throw new Error('open() a tab first');
      return dash;
    },
    async open() {
      dash = await openDashboard(sb.browser, sb.stack.server.url);
      return dash.page;
    },
  };
}

/**
 * Every message the page's polite live region (#status) announces from now on, since each is
 * cleared again after a while: all of them, or the latest ('' before any).
 */
export async function recordAnnouncements(
  page: Page,
): Promise<{ latest: () => Promise<string>; all: () => Promise<string[]> }> {
  await page.evaluate(() => {
    const w = window as unknown as { announced: string[] };
    w.announced = [];
    const region = document.getElementById('status')!;
    new MutationObserver(() => {
      if (region.textContent) w.announced.push(region.textContent);
    }).observe(region, { childList: true, characterData: true, subtree: true });
  });
  const all = () => page.evaluate(() => (window as unknown as { announced: string[] }).announced);
  return { all, latest: async () => (await all()).at(-1) ?? '' };
}
