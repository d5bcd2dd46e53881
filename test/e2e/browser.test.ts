import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import type { Browser, Page, Route } from 'playwright-core';
import { launchChromium } from '../support/chromium';
import { LocalStack } from '../support/local-stack';

/**
 * The browser app, in headless Chromium (see test/support/chromium.ts), against the real local stack: two
 * people in two windows. Screenshots go to test/artifacts/screenshots for review.
 */
const SHOTS = path.resolve(__dirname, '..', 'artifacts', 'screenshots');
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };
jest.setTimeout(120_000);

let stack: LocalStack | undefined;
let browser: Browser | undefined;

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  // Both start at once; each is assigned as soon as it is up, so afterAll stops whatever did start.
  await Promise.all([LocalStack.start().then((started) => (stack = started)), launchChromium().then((launched) => (browser = launched))]);
});

afterAll(async () => {
  // Either may be missing when beforeAll failed; stop what did start.
  await browser?.close();
  if (stack) expect(await stack.stop()).toBe(0);
});

/** The stack and the browser beforeAll started. */
function started(): { stack: LocalStack; browser: Browser } {
  if (!stack || !browser) throw new Error('the local stack or Chromium did not start');
  return { stack, browser };
}

/** A person in a browser window of their own (own storage), signed in through the dev token form. */
async function signIn(user: string, viewport = DESKTOP): Promise<Page> {
  const context = await started().browser.newContext({ viewport });
  const page = await context.newPage();
  await page.goto(started().stack.httpUrl);
  await page.getByLabel('Your user id').fill(user);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await live(page);
  return page;
}

const live = (page: Page) => page.locator('[data-state="live"]').waitFor({ timeout: 20_000 });
const feed = (page: Page) => page.getByRole('list', { name: 'Statuses' });
const statusCard = (page: Page, text: string) => feed(page).locator('article.status', { hasText: text });

async function post(page: Page, text: string): Promise<void> {
  await page.getByLabel("What's happening?").fill(text);
  await page.getByRole('button', { name: 'Post', exact: true }).click();
  await statusCard(page, text).waitFor();
}

async function follow(page: Page, user: string): Promise<void> {
  await page.getByLabel('Follow someone').fill(user);
  await page.getByRole('button', { name: 'Follow', exact: true }).click();
  await page.locator('.people li', { hasText: user }).waitFor();
}

describe('the browser app', () => {
  it('shows a followed person’s status in the follower’s feed without a reload', async () => {
    const alice = await signIn('e-alice');
    const bob = await signIn('e-bob');

    await follow(bob, 'e-alice');
    await post(alice, 'sunrise over the bay');

    await statusCard(bob, 'sunrise over the bay').waitFor({ timeout: 10_000 });
    expect(await statusCard(bob, 'sunrise over the bay').locator('.author').textContent()).toBe('e-alice');
    await expect(bob.locator('.people li', { hasText: 'e-alice' }).textContent()).resolves.toContain('online');
    await bob.screenshot({ path: path.join(SHOTS, 'feed-desktop.png'), fullPage: true });
  });

  it('shows a reply in its thread and raises a notification for the author answered', async () => {
    const carol = await signIn('e-carol');
    const dave = await signIn('e-dave', PHONE);
    await follow(dave, 'e-carol');
    await post(carol, 'who is up for a hike?');
    await statusCard(dave, 'who is up for a hike?').waitFor();

    await statusCard(dave, 'who is up for a hike?').getByRole('button', { name: /Reply to e-carol/ }).click();
    const thread = dave.getByRole('region', { name: 'Thread' });
    await thread.getByRole('textbox', { name: 'Reply to e-carol' }).fill('me! saturday?');
    await thread.getByRole('button', { name: 'Reply', exact: true }).click();

    await thread.getByRole('list', { name: 'Replies' }).getByText('me! saturday?').waitFor();
    const notifications = carol.getByRole('region', { name: /Notifications/ });
    await notifications.getByText('me! saturday?', { exact: false }).waitFor({ timeout: 10_000 });
    // Both arrived after Carol signed in: Dave's follow and his reply.
    expect(await notifications.locator('.unread').textContent()).toBe('2');
    await notifications.getByRole('button', { name: 'Open thread' }).first().click();
    await carol.getByRole('region', { name: 'Thread' }).getByRole('list', { name: 'Replies' }).getByText('me! saturday?').waitFor();
    await dave.screenshot({ path: path.join(SHOTS, 'thread-phone.png'), fullPage: true });
    await carol.screenshot({ path: path.join(SHOTS, 'notifications-desktop.png'), fullPage: true });
  });

  it('catches up after the server closes its socket: a status posted meanwhile shows once', async () => {
    const erin = await signIn('e-erin');
    const frank = await signIn('e-frank', PHONE);
    await follow(frank, 'e-erin');

    // Hold Frank's reconnection (its fresh token) until Erin has posted while he was away.
    const held: Route[] = [];
    await frank.route('**/dev/token**', (route) => void held.push(route));
    expect(await started().stack.disconnectUser('e-frank')).toBe(1);
    await frank.locator('[data-state="reconnecting"]').waitFor();
    await frank.screenshot({ path: path.join(SHOTS, 'reconnecting-phone.png'), fullPage: true });
    await post(erin, 'posted while frank was away');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await statusCard(frank, 'posted while frank was away').count()).toBe(0);

    expect(held.length).toBeGreaterThan(0);
    for (const route of held) await route.continue();
    await frank.unroute('**/dev/token**');
    await live(frank);

    await statusCard(frank, 'posted while frank was away').waitFor({ timeout: 10_000 });
    await post(erin, 'and one more after');
    await statusCard(frank, 'and one more after').waitFor({ timeout: 10_000 });
    expect(await statusCard(frank, 'posted while frank was away').count()).toBe(1);
    await frank.screenshot({ path: path.join(SHOTS, 'caught-up-phone.png'), fullPage: true });
  });
});
