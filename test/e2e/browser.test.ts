import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import type { Browser, Page, Route, WebSocket } from 'playwright-core';
import { launchChromium } from '../support/chromium';
import { LocalStack } from '../support/local-stack';
import { until } from '../support/until';
import type { TestClient } from '../support/ws-client';

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

/**
 * Content-Security-Policy violations in any window of these tests: what Chromium reports on the console
 * ("Refused to … because it violates the following Content Security Policy directive") and the page's
 * securitypolicyviolation events. The app must work under its CSP with none (afterEach).
 */
const violations: string[] = [];
const CSP_REPORT = /Content Security Policy|securitypolicyviolation/;

/** Every WebSocket a window has opened, from its first on. */
const sockets = new WeakMap<Page, WebSocket[]>();
const openSockets = (page: Page) => (sockets.get(page) ?? []).filter((socket) => !socket.isClosed());

type WireFrame = Record<string, unknown>;
/** Every frame a window has sent on any of its WebSockets, parsed, from its first on. */
const sentFrames = new WeakMap<Page, WireFrame[]>();
const sent = (page: Page, action: string) => (sentFrames.get(page) ?? []).filter((frame) => frame['action'] === action);
/** Every frame a window has received on any of its WebSockets, parsed, from its first on. */
const receivedFrames = new WeakMap<Page, WireFrame[]>();
/** The answer a window received to the request it sent with `id`, once it has come. */
const answerTo = (page: Page, id: unknown) => (receivedFrames.get(page) ?? []).find((frame) => frame['id'] === id && frame['type'] !== undefined);

const parsed = (payload: string | Buffer): WireFrame | undefined => {
  const frame: unknown = typeof payload === 'string' ? JSON.parse(payload) : undefined;
  return typeof frame === 'object' && frame !== null ? (frame as WireFrame) : undefined;
};

/** A browser window of its own (own storage), watched for CSP violations from its first script on. */
async function newPage(viewport = DESKTOP): Promise<Page> {
  const context = await started().browser.newContext({ viewport });
  await context.addInitScript({
    content: "document.addEventListener('securitypolicyviolation', (e) => console.error('securitypolicyviolation: ' + e.violatedDirective + ' ' + e.blockedURI));",
  });
  const page = await context.newPage();
  page.on('console', (message) => {
    if (CSP_REPORT.test(message.text())) violations.push(message.text());
  });
  const opened: WebSocket[] = [];
  const frames: WireFrame[] = [];
  const answers: WireFrame[] = [];
  sockets.set(page, opened);
  sentFrames.set(page, frames);
  receivedFrames.set(page, answers);
  page.on('websocket', (socket) => {
    opened.push(socket);
    socket.on('framesent', ({ payload }) => {
      const frame = parsed(payload);
      if (frame) frames.push(frame);
    });
    socket.on('framereceived', ({ payload }) => {
      const frame = parsed(payload);
      if (frame) answers.push(frame);
    });
  });
  return page;
}

afterEach(() => {
  expect(violations.splice(0)).toEqual([]);
});

/** A person in a browser window of their own, signed in through the dev token form; at `hash` (a thread's address, say) when given. */
/** `config`: what to change in the stack's config.json, as a deployment's would differ (its reconnect ceiling, say). */
async function signIn(user: string, viewport = DESKTOP, hash = '', config: Record<string, unknown> = {}): Promise<Page> {
  const page = await newPage(viewport);
  if (Object.keys(config).length > 0) {
    await page.route('**/config.json', async (route) => {
      const response = await route.fetch();
      await route.fulfill({ response, json: { ...((await response.json()) as object), ...config } });
    });
  }
  await page.goto(`${started().stack.httpUrl}/${hash}`);
  await page.getByLabel('Your user id').fill(user);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await live(page);
  return page;
}

const live = (page: Page) => page.locator('[data-state="live"]').waitFor({ timeout: 20_000 });
const feed = (page: Page) => page.getByRole('list', { name: 'Statuses' });
const statusCard = (page: Page, text: string) => feed(page).locator('article.status', { hasText: text });
/** A feed entry: a root status with the replies grouped under it. */
const entryOf = (page: Page, rootId: string) => feed(page).locator('.entry', { has: page.locator(`article[data-status-id="${rootId}"]`) });
const threadPage = (page: Page) => page.getByRole('region', { name: 'Thread' });

/**
 * On a phone the feed, the notifications and the people followed are tabs of their own: this shows
 * one. On a wide screen all three are on screen, and this does nothing.
 */
async function showTab(page: Page, tab: 'Home' | 'Notifications' | 'Following'): Promise<void> {
  const tabs = page.getByRole('navigation', { name: 'Sections' });
  if (await tabs.isVisible()) await tabs.getByRole('link', { name: tab }).click();
}

async function post(page: Page, text: string): Promise<void> {
  await page.getByLabel("What's happening?").fill(text);
  await page.getByRole('button', { name: 'Post', exact: true }).click();
  await statusCard(page, text).waitFor();
}

async function follow(page: Page, user: string): Promise<void> {
  await showTab(page, 'Following');
  await page.getByLabel('Follow someone').fill(user);
  await page.getByRole('button', { name: 'Follow', exact: true }).click();
  await page.locator('.people li', { hasText: user }).waitFor();
  await showTab(page, 'Home');
}

/** Someone outside the browser, on a WebSocket of their own (closed by the stack's stop). */
const connect = (user: string): Promise<TestClient> => started().stack.connect(user);

/** Posts as a connected client; the new status's id. */
async function postAs(client: TestClient, text: string, replyTo?: string): Promise<string> {
  const reply = await client.request({ action: 'post', text, ...(replyTo === undefined ? {} : { replyTo }) });
  const status = reply['status'];
  if (reply.type !== 'posted' || typeof status !== 'object' || status === null || !('id' in status) || typeof status.id !== 'string') {
    throw new Error(`post was refused: ${JSON.stringify(reply)}`);
  }
  return status.id;
}

async function followAs(client: TestClient, user: string): Promise<void> {
  const reply = await client.request({ action: 'follow', user });
  if (reply.type !== 'followed') throw new Error(`follow was refused: ${JSON.stringify(reply)}`);
}

/**
 * A screenshot for review, in test/artifacts/screenshots. A phone's is what its screen shows: a
 * full-page capture would draw the fixed tab bar halfway down a long page.
 */
async function shoot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(SHOTS, name), fullPage: page.viewportSize()?.width !== PHONE.width });
}

/** The element's top is below the sticky header's bottom: not hidden under it. */
async function below(page: Page, element: ReturnType<Page['locator']>): Promise<void> {
  const header = await page.locator('header.topbar').boundingBox();
  const box = await element.boundingBox();
  if (!header || !box) throw new Error('the header or the element is not on screen');
  expect(box.y).toBeGreaterThanOrEqual(header.y + header.height);
}

describe('the browser app', () => {
  it('is served with the security headers of the template, and a violation of its CSP would be seen', async () => {
    const page = await newPage();

    const response = await page.goto(started().stack.httpUrl);

    const headers = response?.headers() ?? {};
    const csp = headers['content-security-policy'] ?? '';
    for (const directive of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", `connect-src 'self' ${started().stack.wsUrl}`]) {
      expect(csp.split('; ')).toContain(directive);
    }
    expect(headers).toMatchObject({ 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'x-frame-options': 'DENY' });
    expect(headers['strict-transport-security']).toMatch(/^max-age=\d+/);
    // The watch works: an inline style, which the CSP refuses, is reported both ways (then cleared, as it is this test's own).
    await page.evaluate("document.head.append(Object.assign(document.createElement('style'), { textContent: 'body { color: red }' }))");
    await until(
      () => violations.some((text) => /inline style .*Content Security Policy/.test(text)) && violations.includes('securitypolicyviolation: style-src-elem inline'),
      'the inline style to be reported on the console and by a securitypolicyviolation event',
    );
    violations.splice(0);
  });

  it('shows a followed person’s status in the follower’s feed without a reload', async () => {
    const alice = await signIn('e-alice');
    const bob = await signIn('e-bob');

    await follow(bob, 'e-alice');
    await post(alice, 'sunrise over the bay');

    await statusCard(bob, 'sunrise over the bay').waitFor({ timeout: 10_000 });
    expect(await statusCard(bob, 'sunrise over the bay').locator('.author').textContent()).toBe('e-alice');
    await expect(bob.locator('.people li', { hasText: 'e-alice' }).textContent()).resolves.toContain('online');
    await shoot(bob, 'live-status-desktop.png');
  });

  it('shows a reply in its thread and raises a notification for the author answered', async () => {
    const carol = await signIn('e-carol');
    const dave = await signIn('e-dave', PHONE);
    await follow(dave, 'e-carol');
    await post(carol, 'who is up for a hike?');
    await statusCard(dave, 'who is up for a hike?').waitFor();

    await statusCard(dave, 'who is up for a hike?').getByRole('button', { name: /Reply to e-carol/ }).click();
    const thread = threadPage(dave);
    await thread.getByRole('textbox', { name: 'Reply to e-carol' }).fill('me! saturday?');
    await thread.getByRole('button', { name: 'Reply', exact: true }).click();

    await thread.getByRole('list', { name: 'Replies' }).getByText('me! saturday?').waitFor();
    const notifications = carol.getByRole('region', { name: /Notifications/ });
    await notifications.getByText('me! saturday?', { exact: false }).waitFor({ timeout: 10_000 });
    // Both arrived after Carol signed in: Dave's follow and his reply.
    expect(await notifications.locator('.unread').textContent()).toBe('2');
    await notifications.getByRole('link', { name: 'me! saturday?' }).click();
    await threadPage(carol).getByRole('list', { name: 'Replies' }).getByText('me! saturday?').waitFor();
    // Back in the feed, the reply is grouped under the status it answers, which counts it.
    await dave.getByRole('link', { name: 'Back to the feed' }).click();
    const hike = statusCard(dave, 'who is up for a hike?');
    await dave.getByRole('list', { name: 'Replies to e-carol' }).getByText('me! saturday?').waitFor();
    expect(await hike.getByRole('button', { name: /Reply to e-carol/ }).getAttribute('aria-label')).toMatch(/\(1 reply\)$/);
    await shoot(dave, 'reply-grouped-phone.png');
    await shoot(carol, 'notifications-desktop.png');
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
    await shoot(frank, 'reconnecting-phone.png');
    await until(() => held.length > 0, "Frank's reconnection to ask for its token");
    await post(erin, 'posted while frank was away');
    // The app hears of statuses through its WebSocket alone. With none open (the old one closed, the
    // next held at its token), nothing can reach Frank now: the status is not shown, and can show
    // later only by catching up. No time to wait out: the absence follows from the closed door.
    await until(() => openSockets(frank).length === 0, "Frank's closed socket to be reported closed");
    expect(await statusCard(frank, 'posted while frank was away').count()).toBe(0);

    for (const route of held) await route.continue();
    await frank.unroute('**/dev/token**');
    await live(frank);

    await statusCard(frank, 'posted while frank was away').waitFor({ timeout: 10_000 });
    await post(erin, 'and one more after');
    await statusCard(frank, 'and one more after').waitFor({ timeout: 10_000 });
    expect(await statusCard(frank, 'posted while frank was away').count()).toBe(1);
    await shoot(frank, 'caught-up-phone.png');
  });

  it('says it is loading, not that there is nothing, while it connects for someone who follows people', async () => {
    const gina = await signIn('e-gina');
    await follow(gina, 'e-hal');
    await gina.close();

    // Signing in again: the sign-in form gets its token, the connection's token is held.
    const page = await newPage(DESKTOP);
    const held: Route[] = [];
    let tokens = 0;
    await page.route('**/dev/token**', (route) => void (++tokens === 1 ? route.continue() : held.push(route)));
    await page.goto(started().stack.httpUrl);
    await page.getByLabel('Your user id').fill('e-gina');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('[data-state="connecting"]').waitFor();

    await page.getByText('Loading your feed…').waitFor();
    await page.getByText('Loading whom you follow…').waitFor();
    expect(await page.getByText(/Nothing here yet|You follow no one yet/).count()).toBe(0);
    await shoot(page, 'loading-desktop.png');

    expect(held.length).toBeGreaterThan(0);
    for (const route of held) await route.continue();
    await page.unroute('**/dev/token**');
    await live(page);
    await page.locator('.people li', { hasText: 'e-hal' }).waitFor();
    await page.getByText('Nothing here yet. Follow someone, or post the first status.').waitFor();
    expect(await page.getByText(/Loading|You follow no one yet/).count()).toBe(0);
  });

  it('puts the focus in the reply box on every Reply, also on the status it already answers', async () => {
    const ida = await signIn('e-ida');
    await post(ida, 'focus on me');
    const box = threadPage(ida).getByRole('textbox', { name: 'Reply to e-ida' });

    await statusCard(ida, 'focus on me').getByRole('button', { name: /Reply to e-ida/ }).click(); // opens its thread
    await box.waitFor();
    await ida.keyboard.type('first ');
    // The same status, on its thread's page: the box already answers it.
    await threadPage(ida).locator('article.status', { hasText: 'focus on me' }).getByRole('button', { name: /Reply to e-ida/ }).click();
    await ida.keyboard.type('second');

    // Typed text goes where the focus is: both words in the box means it had the focus both times.
    expect(await box.inputValue()).toBe('first second');
  });

  it('counts down to the next reconnection each second and retries at once on "Retry now"', async () => {
    // As deployed with the default expectedConnections (10,000): a 25 s ceiling, long enough to watch.
    const jay = await signIn('e-jay', PHONE, '', { reconnectMaxMs: 25_000 });
    // Every attempt fails (no token), so the backoff grows: its ceiling doubles from 0.5 s, with random jitter.
    await jay.route('**/dev/token**', (route) => void route.fulfill({ status: 503, contentType: 'application/json', body: '{"message":"held by the test"}' }));
    expect(await started().stack.disconnectUser('e-jay')).toBe(1);

    // Wait for a wait long enough to watch: 5 s or more.
    const countdown = jay.locator('.countdown', { hasText: /next in ([5-9]|\d\d+) s/ });
    await countdown.waitFor({ timeout: 90_000 });
    const start = Number(/next in (\d+) s/.exec((await countdown.textContent()) ?? '')?.[1]);
    await jay.getByText(`next in ${start - 1} s`).waitFor({ timeout: 2_000 });
    await shoot(jay, 'countdown-phone.png');

    // At least 3 s are left (the display rounds up): an attempt within 2 s of the click is the click's.
    await jay.unroute('**/dev/token**');
    const clickedAt = Date.now();
    const tokenAsked = jay.waitForRequest('**/dev/token**', { timeout: 2_000 });
    await jay.getByRole('button', { name: 'Retry now' }).click();
    await tokenAsked;
    expect(Date.now() - clickedAt).toBeLessThan(2_000);
    await live(jay);
    expect(await jay.getByRole('button', { name: 'Retry now' }).count()).toBe(0);
  });

  it('is back within 2 s of the server after a long outage, on the local stack (few clients: the 2 s ceiling)', async () => {
    const kim = await signIn('e-kim', PHONE);
    // The server is "down": every attempt fails at its token. Ten failures in a row would have grown a 30 s ceiling to 30 s.
    let refused = 0;
    await kim.route('**/dev/token**', (route) => {
      refused += 1;
      void route.fulfill({ status: 503, contentType: 'application/json', body: '{"message":"held by the test"}' });
    });
    expect(await started().stack.disconnectUser('e-kim')).toBe(1);
    await until(() => refused >= 10, 'ten failed attempts', 60_000);
    // Read in the page at once: between attempts the countdown says "next in N s", during one "trying now".
    const waiting = await kim.waitForFunction("((text) => /next in \\d+ s/.test(text) && text)(document.querySelector('.countdown')?.textContent ?? '')");
    expect(await waiting.jsonValue()).toMatch(/next in [0-2] s/);

    // Back: the next attempt comes within the 2 s ceiling.
    await kim.unroute('**/dev/token**');
    const backAt = Date.now();
    await kim.waitForRequest('**/dev/token**', { timeout: 2_500 });
    expect(Date.now() - backAt).toBeLessThan(2_500);
    await live(kim);
  });

  it('fills the feed once the server is back, though it went away during the first fill for longer than a request waits', async () => {
    const page = await newPage(PHONE);
    // The first connection: the server's answers never arrive, and after a second it goes away.
    let connections = 0;
    await page.routeWebSocket(/\/dev\?token=/, (ws) => {
      const server = ws.connectToServer();
      if (++connections > 1) return;
      server.onMessage(() => undefined);
      setTimeout(() => void ws.close({ code: 1001, reason: 'going away' }), 1_000);
    });
    // Then it stays away (every token after the first connection's refused) for longer than a request waits, 20 s.
    await page.route('**/dev/token**', (route) =>
      connections === 0 ? void route.fallback() : void route.fulfill({ status: 503, contentType: 'application/json', body: '{"message":"held by the test"}' }),
    );
    await page.goto(`${started().stack.httpUrl}/`);
    await page.getByLabel('Your user id').fill('e-lou');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('[data-state="reconnecting"]').waitFor({ timeout: 20_000 });
    await page.getByRole('alert').filter({ hasText: /no reply to \w+ within 20000 ms/ }).waitFor({ timeout: 30_000 });
    expect(await page.getByText('Loading your feed…').count()).toBe(1);

    await page.unroute('**/dev/token**');
    await live(page);
    await page.getByText('Nothing here yet. Follow someone, or post the first status.').waitFor({ timeout: 20_000 });
    expect(await page.getByText('Loading your feed…').count()).toBe(0);
    // The fill's failure is taken down once the fill is made.
    expect(await page.getByRole('alert').filter({ hasText: /no reply to/ }).count()).toBe(0);
    await shoot(page, 'filled-after-outage-phone.png');
    expect(connections).toBeGreaterThanOrEqual(2);
  });

  it('keeps the unread count across signing out and in, until it is marked read', async () => {
    const kim = await signIn('e-kim');
    const leo = await signIn('e-leo', PHONE);
    const notifications = kim.getByRole('region', { name: /Notifications/ });
    await follow(leo, 'e-kim');
    await notifications.getByText('followed you').waitFor({ timeout: 10_000 });
    expect(await notifications.locator('.unread').textContent()).toBe('1');

    const signInAgain = async () => {
      await kim.getByRole('button', { name: 'Sign out' }).click();
      await kim.getByLabel('Your user id').fill('e-kim');
      await kim.getByRole('button', { name: 'Sign in' }).click();
      await live(kim);
      // The unread count is computed with the notifications: once one shows, the count is final.
      await notifications.getByText('followed you').waitFor();
    };
    await signInAgain();
    expect(await notifications.locator('.unread').textContent()).toBe('1');
    await shoot(kim, 'unread-kept-desktop.png');

    await notifications.getByRole('button', { name: 'Mark read' }).click();
    await signInAgain();
    expect(await notifications.locator('.unread').count()).toBe(0);
  });

  it('clears a "posting too fast" message once its time has passed', async () => {
    const max = await signIn('e-max');
    const box = max.getByLabel("What's happening?");
    const alert = max.locator('.composer .error');
    // A burst of 10, then 1 a second: posting as fast as the app allows passes the limit within a few more.
    // Each post's answer is read off the socket: a refusal's message may be shown for as little as 1.5 s.
    let refused = false;
    for (let i = 0; i < 30 && !refused; i++) {
      await box.fill(`quick ${i}`);
      await box.press('Enter');
      const request = () => sent(max, 'post').find((frame) => frame['text'] === `quick ${i}`);
      await until(() => answerTo(max, request()?.['id']) !== undefined, `quick ${i} to be posted or refused`);
      refused = answerTo(max, request()?.['id'])?.['code'] === 'rate_limited';
    }
    expect(refused).toBe(true);
    expect(await alert.textContent()).toMatch(/posting too fast/);

    await alert.waitFor({ state: 'detached', timeout: 5_000 });
  });

  it('shows someone followed as online when their status arrives, with no presence request for it', async () => {
    // Oli's window, with every presence request it sends counted.
    const oli = await newPage(PHONE);
    const asked: string[][] = [];
    let firstAsk: (value?: unknown) => void = () => undefined;
    const askedOnce = new Promise((resolve) => (firstAsk = resolve));
    oli.on('websocket', (socket) =>
      socket.on('framesent', ({ payload }) => {
        const frame: unknown = typeof payload === 'string' ? JSON.parse(payload) : undefined;
        if (typeof frame === 'object' && frame !== null && 'action' in frame && frame.action === 'presence' && 'users' in frame && Array.isArray(frame.users)) {
          asked.push(frame.users.map(String));
          firstAsk();
        }
      }),
    );
    await oli.goto(started().stack.httpUrl);
    await oli.getByLabel('Your user id').fill('e-oli');
    await oli.getByRole('button', { name: 'Sign in' }).click();
    await live(oli);
    const pia = oli.locator('.people li', { hasText: 'e-pia' });

    await follow(oli, 'e-pia'); // Pia has never connected: offline
    await askedOnce; // by the follow, or by the first full ask if the follow came before it
    await showTab(oli, 'Following');
    await pia.getByText('offline').waitFor();
    expect(asked).toEqual([['e-pia']]);

    await showTab(oli, 'Home');
    const piaPage = await signIn('e-pia');
    await post(piaPage, 'hello oli');
    await statusCard(oli, 'hello oli').waitFor({ timeout: 10_000 });

    await showTab(oli, 'Following');
    await pia.getByText('online').waitFor({ timeout: 2_000 });
    expect(asked).toEqual([['e-pia']]); // known from the status, not asked
    await shoot(oli, 'presence-phone.png');
  });

  it('fills the feed from one request, with replies under their entry, avatars and links', async () => {
    // Rae follows Wren and Xia, who post and reply to each other, and Xia answers Yuri, whom Rae does not follow.
    const [rae, wren, xia, yuri] = await Promise.all(['e-rae', 'e-wren', 'e-xia', 'e-yuri'].map(connect));
    if (!rae || !wren || !xia || !yuri) throw new Error('a client did not connect');
    await followAs(rae, 'e-wren');
    await followAs(rae, 'e-xia');
    const trail = await postAs(wren, 'Trail report (https://example.com/trails/north-ridge): muddy but open. Who is in for Saturday?');
    const countMeIn = await postAs(xia, 'Count me in!', trail);
    const direct = await postAs(wren, 'Great, 8 am at the car park', trail);
    const nested = await postAs(wren, 'Xia, could you bring coffee for everyone?', countMeIn);
    const lake = await postAs(yuri, 'The lake is warm enough to swim today');
    await postAs(xia, 'Jealous! Photos please', lake);
    await postAs(wren, 'New blog post on packing light: https://blog.example.org/packing-light');

    const page = await signIn('e-rae');
    const trailEntry = entryOf(page, trail);
    await page.getByText('New blog post on packing light').waitFor();
    await entryOf(page, lake).getByText('Jealous! Photos please').waitFor();

    // One feed request filled it: no history of anyone's channel.
    expect(sent(page, 'feed')).toHaveLength(1);
    expect(sent(page, 'history').filter((frame) => String(frame['channel']).startsWith('user:'))).toEqual([]);
    // Replies are in their entry, not entries of their own: three entries for three threads.
    expect(await feed(page).locator(':scope > li').count()).toBe(3);
    // The latest two replies show, the first behind "1 more reply", and the root counts all three.
    await expect(trailEntry.locator('.replies article').allTextContents()).resolves.toEqual([
      expect.stringContaining('8 am at the car park'),
      expect.stringContaining('could you bring coffee'),
    ]);
    expect(await trailEntry.locator(`article[data-status-id="${trail}"] .action-count`).textContent()).toBe('3');
    await shoot(page, 'feed-desktop.png');
    await trailEntry.getByRole('button', { name: '1 more reply' }).click();
    await trailEntry.locator('.replies').getByText('Count me in!').waitFor();
    // Whom a reply answers, with a link to it; a reply straight under the status it answers needs no such line.
    const replyingTo = trailEntry.locator(`article[data-status-id="${nested}"] .replying-to a`);
    expect(await replyingTo.textContent()).toBe('@e-xia');
    expect(await replyingTo.getAttribute('href')).toBe(`#/status/${countMeIn}`);
    expect(await trailEntry.locator(`article[data-status-id="${direct}"] .replying-to`).count()).toBe(0);
    // The root by someone not followed was fetched to carry the reply from someone followed.
    expect(await entryOf(page, lake).locator('article.status').first().locator('.author').textContent()).toBe('e-yuri');
    // Links are links, opened apart from the app; the text around them stays text.
    const link = trailEntry.getByRole('link', { name: 'example.com/trails/north-ridge' });
    expect(await link.getAttribute('href')).toBe('https://example.com/trails/north-ridge');
    expect(await link.getAttribute('rel')).toBe('noopener noreferrer nofollow');
    expect(await link.getAttribute('target')).toBe('_blank');
    expect(await trailEntry.locator(`article[data-status-id="${trail}"] .text`).textContent()).toBe(
      'Trail report (example.com/trails/north-ridge): muddy but open. Who is in for Saturday?',
    );
    // Initials avatars, and times as people say them.
    expect(await trailEntry.locator(`article[data-status-id="${trail}"] .avatar`).textContent()).toBe('EW');
    expect(await trailEntry.locator(`article[data-status-id="${trail}"] time`).textContent()).toBe('now');
    // The header's edges are the columns' edges.
    const [header, columns] = await Promise.all([page.locator('.topbar-inner').boundingBox(), page.locator('.layout').boundingBox()]);
    expect(header && columns && { left: header.x, right: header.x + header.width }).toEqual(columns && { left: columns.x, right: columns.x + columns.width });

    const phone = await signIn('e-rae', PHONE);
    await entryOf(phone, lake).getByText('Jealous! Photos please').waitFor();
    expect(sent(phone, 'feed')).toHaveLength(1);
    // On a phone the header keeps to one line, and the sections are tabs.
    const [brand, signOut] = await Promise.all([phone.locator('.brand').boundingBox(), phone.getByRole('button', { name: 'Sign out' }).boundingBox()]);
    if (!brand || !signOut) throw new Error('the header is not on screen');
    expect(Math.abs(brand.y + brand.height / 2 - (signOut.y + signOut.height / 2))).toBeLessThan(2);
    expect(signOut.x + signOut.width).toBeLessThanOrEqual(PHONE.width);
    expect(await phone.getByRole('region', { name: /Notifications/ }).isVisible()).toBe(false);
    await shoot(phone, 'feed-phone.png');

    // A click on a status's text opens its thread, as in the apps people know; on a reply under an entry, the reply's.
    await entryOf(phone, lake).getByText('The lake is warm enough to swim today').click();
    await phone.waitForURL(`**/#/status/${lake}`);
    await page.locator(`article[data-status-id="${nested}"] .text`).click();
    await page.waitForURL(`**/#/status/${nested}`);
  });

  it('opens a thread by its link in a new window, live, with the root and replies in two requests', async () => {
    const [zed, amy] = await Promise.all(['e-zed', 'e-amy'].map(connect));
    if (!zed || !amy) throw new Error('a client did not connect');
    const root = await postAs(zed, 'Who is coming to the lake on Sunday? Forecast: https://weather.example.com/lake');
    await postAs(amy, 'Count me in', root);
    const answer = await postAs(zed, 'Lovely! Bring a towel', root);

    // Bea follows no one: the thread comes from its address alone.
    const page = await signIn('e-bea', DESKTOP, `#/status/${root}`);
    const thread = threadPage(page);
    await thread.locator(`article[data-status-id="${root}"]`).waitFor();
    await thread.getByRole('list', { name: 'Replies' }).getByText('Lovely! Bring a towel').waitFor();
    expect(sent(page, 'get')).toEqual([expect.objectContaining({ ids: [root] })]);
    expect(sent(page, 'history').filter((frame) => frame['channel'] === `thread:${root}`)).toHaveLength(1);

    await postAs(amy, 'Can I bring my dog?', root);
    await thread.getByRole('list', { name: 'Replies' }).getByText('Can I bring my dog?').waitFor({ timeout: 10_000 });
    await shoot(page, 'thread-desktop.png');

    // On a phone, the thread's first status starts below the sticky header.
    const phone = await signIn('e-bea', PHONE, `#/status/${root}`);
    const first = threadPage(phone).locator(`article[data-status-id="${root}"]`);
    await first.waitFor();
    await below(phone, first);
    await shoot(phone, 'thread-phone.png');

    // A reply's address shows its thread, the reply marked, brought into view below the header.
    await phone.goto(`${started().stack.httpUrl}/#/status/${answer}`);
    await live(phone);
    const marked = threadPage(phone).locator(`article[data-status-id="${answer}"]`);
    await marked.waitFor();
    expect(await marked.getAttribute('aria-current')).toBe('true');
    await threadPage(phone).locator(`article[data-status-id="${root}"]`).waitFor();
    expect(await threadPage(phone).getByRole('textbox', { name: 'Reply to e-zed' }).count()).toBe(1);
    await below(phone, marked);
  });

  it('pages the feed as it is scrolled, with a loading state and an end, each status once', async () => {
    // 45 statuses from five people, nine each (within the post burst): three pages of 20.
    const authors = ['e-p1', 'e-p2', 'e-p3', 'e-p4', 'e-p5'];
    const reader = await connect('e-cal');
    for (const author of authors) await followAs(reader, author);
    const posted = (
      await Promise.all(
        authors.map(async (author) => {
          const client = await connect(author);
          const ids: string[] = [];
          for (let i = 1; i <= 9; i++) ids.push(await postAs(client, `${author} says ${i}`));
          return ids;
        }),
      )
    ).flat();

    // Pages after the first are held on their way back until the test has seen the feed say it is loading.
    const page = await newPage(DESKTOP);
    const paging = new Set<unknown>();
    const heldPages: (() => void)[] = [];
    await page.routeWebSocket(/.*/, (socket) => {
      const server = socket.connectToServer();
      socket.onMessage((message) => {
        const frame = JSON.parse(String(message)) as WireFrame;
        if (frame['action'] === 'feed' && frame['before'] !== undefined) paging.add(frame['id']);
        server.send(message);
      });
      server.onMessage((message) => {
        const frame = JSON.parse(String(message)) as WireFrame;
        if (paging.has(frame['id'])) heldPages.push(() => socket.send(message));
        else socket.send(message);
      });
    });
    await page.goto(started().stack.httpUrl);
    await page.getByLabel('Your user id').fill('e-cal');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const shown = feed(page).locator('article.status');
    await until(async () => (await shown.count()) === 20, 'the first page of 20');
    const end = page.getByText('You’re all caught up');
    const loading = page.getByRole('status').getByText('Loading more…');

    for (const [pageNumber, total] of [
      [2, 40],
      [3, 45],
    ] as const) {
      await page.locator('.feed-end').scrollIntoViewIfNeeded();
      await loading.waitFor();
      expect(await end.count()).toBe(0);
      await until(() => heldPages.length > 0, `page ${pageNumber} to be answered`);
      heldPages.splice(0).forEach((release) => release());
      await until(async () => (await shown.count()) === total, `${total} statuses shown`);
    }

    await end.waitFor();
    await end.scrollIntoViewIfNeeded();
    expect(await loading.count()).toBe(0);
    const ids: string[] = [];
    for (const article of await shown.all()) ids.push((await article.getAttribute('data-status-id')) ?? '');
    expect(new Set(ids).size).toBe(45);
    expect([...ids].sort()).toEqual([...posted].sort());
    expect(ids).toEqual([...ids].sort().reverse()); // newest first
    await page.screenshot({ path: path.join(SHOTS, 'feed-end-desktop.png') }); // the screen at the end, not all 45
  });

  it('welcomes a new user with an empty feed, at both sizes', async () => {
    for (const [viewport, name] of [
      [DESKTOP, 'empty-feed-desktop.png'],
      [PHONE, 'empty-feed-phone.png'],
    ] as const) {
      const page = await signIn('e-newcomer', viewport);
      await page.getByText('Nothing here yet. Follow someone, or post the first status.').waitFor();
      expect(await page.getByText('You’re all caught up').count()).toBe(0);
      await shoot(page, name);
    }
  });

  it('lets a keyboard user skip past the feed', async () => {
    const page = await signIn('e-una');
    // What has the focus, read in the page (these tests are typed without the DOM).
    const focused = () => page.evaluate<string>("document.activeElement?.id || document.activeElement?.textContent || ''");
    const inSidebar = () => page.evaluate<boolean>("document.getElementById('sidebar').contains(document.activeElement)");

    await page.keyboard.press('Tab');
    expect(await focused()).toBe('Skip past the feed');
    await page.keyboard.press('Enter');

    expect(await focused()).toBe('sidebar');
    await page.keyboard.press('Tab'); // the next stop is in the sidebar, past every status
    expect(await inSidebar()).toBe(true);
  });

  it('moves relative times on by themselves', async () => {
    const page = await newPage(DESKTOP);
    await page.clock.install();
    await page.goto(started().stack.httpUrl);
    await page.getByLabel('Your user id').fill('e-tom');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await live(page);
    await post(page, 'what time is it?');
    const time = statusCard(page, 'what time is it?').locator('time');
    expect(await time.textContent()).toBe('now');

    await page.clock.fastForward('02:30');

    await until(async () => (await time.textContent()) === '2 min', 'the time to read "2 min"');
  });
});
