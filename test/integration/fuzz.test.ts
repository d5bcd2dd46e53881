import { QueryCommand, paginateScan } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { LocalStack } from '../support/local-stack';
import type { Frame, TestClient } from '../support/ws-client';

/**
 * Bad input, tried for real: thousands of frames from fast-check against the
 * local stack, each with the answer docs/protocol.md promises for it (an error code,
 * with the frame's id echoed when it had a valid one), or the close API Gateway
 * gives: 1003 for a binary frame, 1009 for a frame over 32 KB or a message over
 * 128 KB, and 1007 for a text frame that is not UTF-8 (RFC 6455; AWS does not
 * document this case, the local gateway's ws fails the connection so). Another
 * user's traffic flows meanwhile, with its latency measured, and nothing from a
 * rejected frame is stored.
 *
 * FUZZ_SEED and FUZZ_FRAMES reproduce or widen a run.
 */
const SEED = Number(process.env['FUZZ_SEED'] ?? 61_122);
const FRAMES = Number(process.env['FUZZ_FRAMES'] ?? 2000);
/** Connections fuzzing at once, each one frame at a time. */
const WORKERS = 4;
const FUZZER = 'fuzzer';

const ROUTES = ['post', 'subscribe', 'unsubscribe', 'history', 'feed', 'get', 'ping', 'follow', 'unfollow', 'presence'];
const USER_ID = /^[A-Za-z0-9_-]{1,64}$/;
const STATUS_ID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const isChannel = (name: string) => /^(user|inbox):[A-Za-z0-9_-]{1,64}$/.test(name) || /^thread:[0-9A-HJKMNP-TV-Z]{26}$/.test(name);
/** Channels the fuzzer may subscribe to; nobody posts on them. */
const POOL = Array.from({ length: 10 }, (_, i) => `user:fz-pool${i}`);

/** JSON written out as text: values nested thousands deep, which JSON.stringify in this test could not write. */
class RawJson {
  constructor(readonly text: string) {}
}

/** A reply type (`pong`, `posted`) or `error:<code>`. */
type Outcome = string;
type IdMode = { readonly mode: 'valid' } | { readonly mode: 'absent' } | { readonly mode: 'invalid'; readonly value: unknown };

type Spec =
  | { readonly category: string; readonly kind: 'object'; readonly fields: Record<string, unknown>; readonly id: IdMode; readonly outcomes: readonly Outcome[] }
  | { readonly category: string; readonly kind: 'text'; readonly data: string; readonly outcomes: readonly Outcome[] }
  | { readonly category: string; readonly kind: 'bytes'; readonly data: Uint8Array; readonly binary: boolean; readonly close: number }
  | { readonly category: string; readonly kind: 'fragments'; readonly data: Uint8Array; readonly close: number };

// --- values ------------------------------------------------------------------------------------

const notString = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
);
const anyString = fc.string({ unit: 'grapheme', maxLength: 80 });
const statusId = fc.stringMatching(STATUS_ID);
const userId = fc.stringMatching(USER_ID);
/** Up to 60,000 deep: over 32 KB it travels as a message of several frames, as API Gateway allows up to 128 KB. */
const deep = fc
  .tuple(fc.oneof(fc.integer({ min: 100, max: 10_000 }), fc.integer({ min: 10_000, max: 60_000 })), fc.boolean())
  .map(([depth, arrays]) => new RawJson(arrays ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(Math.ceil(depth / 3))}1${'}'.repeat(Math.ceil(depth / 3))}`));
/** Text length in code points, as the protocol counts it; the oracle's own count, apart from the server's. */
const codePointCount = (text: string) => Array.from(text).length;
const loneSurrogate = fc.tuple(anyString, fc.constantFrom('\ud800', '\udbff', '\udc00', '\udfff'), anyString).map(([a, s, b]) => `${a}${s}${b}`);
const codePointsOf = (min: number, max: number) => fc.string({ unit: 'grapheme', minLength: min, maxLength: max }).filter((s) => codePointCount(s.trim()) > 500);
/** API Gateway's frame and message limits: past either, the connection is closed with 1009 whatever the frame holds. */
const FRAME_BYTES = 32 * 1024;
const MESSAGE_BYTES = 128 * 1024;
const badChannel = fc.oneof(
  anyString.filter((s) => !isChannel(s)),
  userId.map((u) => `room:${u}`),
  fc.constantFrom('user:', 'inbox:', 'thread:', 'user:a b', 'user:é', `user:${'x'.repeat(65)}`, 'thread:01jd0000000000000000000000', 'USER:alice'),
  anyString.filter((s) => !STATUS_ID.test(s)).map((s) => `thread:${s}`),
);
const badStatusId = fc.oneof(notString, anyString.filter((s) => !STATUS_ID.test(s)), deep);
const badUser = fc.oneof(notString, anyString.filter((s) => !USER_ID.test(s)), fc.constant('x'.repeat(65)), deep);
const notArray = fc.oneof(fc.integer(), anyString, fc.boolean(), fc.constant(null), fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 2 }), deep);

/** Wrong values for each field of each action: every one must be answered with bad_request. */
const wrongFields: Record<string, Record<string, fc.Arbitrary<unknown>>> = {
  post: {
    text: fc.oneof(notString, fc.constantFrom('', '   ', '\n\t '), codePointsOf(501, 1500), loneSurrogate, deep),
    replyTo: badStatusId,
  },
  subscribe: {
    channels: fc.oneof(
      notArray,
      fc.constant([]),
      fc.array(fc.constantFrom(...POOL), { minLength: 51, maxLength: 120 }),
      fc.tuple(fc.subarray(POOL), fc.oneof(badChannel, notString, deep)).map(([good, bad]) => [...good, bad instanceof RawJson ? new RawJson(`[${bad.text}]`) : bad]),
    ),
    since: fc.oneof(
      fc.oneof(anyString, fc.integer(), fc.constant(null), fc.array(statusId, { maxLength: 2 }), deep),
      statusId.map((id) => ({ 'user:fz-elsewhere': id })),
      badStatusId.map((cursor) => ({ [POOL[0] ?? 'user:fz-pool0']: cursor })),
    ),
  },
  unsubscribe: {
    channels: fc.oneof(notArray, fc.constant([]), fc.tuple(fc.subarray(POOL), badChannel).map(([good, bad]) => [...good, bad])),
  },
  history: {
    channel: fc.oneof(notString, badChannel, deep),
    before: badStatusId,
    after: badStatusId,
    limit: fc.oneof(anyString, fc.boolean(), fc.constant(null), fc.integer({ max: 0 }), fc.integer({ min: 101 }), fc.double({ min: 0.1, max: 99.9, noInteger: true }), deep),
  },
  feed: {
    before: badStatusId,
    limit: fc.oneof(anyString, fc.boolean(), fc.constant(null), fc.integer({ max: 0 }), fc.integer({ min: 101 }), fc.double({ min: 0.1, max: 99.9, noInteger: true }), deep),
  },
  get: {
    ids: fc.oneof(
      notArray,
      fc.constant([]),
      fc.array(statusId, { minLength: 101, maxLength: 140 }),
      fc.tuple(fc.array(statusId, { maxLength: 3 }), fc.oneof(badStatusId, deep)).map(([good, bad]) => [...good, bad instanceof RawJson ? new RawJson(`[${bad.text}]`) : bad]),
    ),
  },
  follow: { user: fc.oneof(badUser, fc.constant(FUZZER)) },
  unfollow: { user: badUser },
  presence: {
    users: fc.oneof(
      notArray,
      fc.constant([]),
      fc.array(userId, { minLength: 101, maxLength: 140 }),
      fc.tuple(fc.array(userId, { maxLength: 3 }), badUser).map(([good, bad]) => [...good, bad instanceof RawJson ? new RawJson(`[${bad.text}]`) : bad]),
    ),
  },
};
/** The smallest valid frame of each action: one field at a time is made wrong. */
const BASE: Record<string, Record<string, unknown>> = {
  post: { text: 'fuzz' },
  subscribe: { channels: [POOL[1]] },
  unsubscribe: { channels: [POOL[1]] },
  history: { channel: POOL[1] },
  feed: {},
  get: { ids: ['01ARZ3NDEKTSV4RRFFQ69G5FAV'] },
  follow: { user: 'fz-someone' },
  unfollow: { user: 'fz-someone' },
  presence: { users: ['fz-someone'] },
};

const idMode: fc.Arbitrary<IdMode> = fc.oneof(
  { weight: 8, arbitrary: fc.constant<IdMode>({ mode: 'valid' }) },
  { weight: 2, arbitrary: fc.constant<IdMode>({ mode: 'absent' }) },
);
const invalidId: fc.Arbitrary<IdMode> = fc
  .oneof(notString, fc.string({ minLength: 65, maxLength: 200 }), loneSurrogate, deep)
  .map((value) => ({ mode: 'invalid', value }));

// --- frames ------------------------------------------------------------------------------------

const wrongType: fc.Arbitrary<Spec> = fc
  .constantFrom(...Object.entries(wrongFields))
  .chain(([action, fields]) => fc.tuple(fc.constant(action), fc.constantFrom(...Object.entries(fields))))
  .chain(([action, [field, value]]) => fc.record({ action: fc.constant(action), field: fc.constant(field), value, id: idMode }))
  .map(({ action, field, value, id }) => ({
    category: value instanceof RawJson ? 'deeply nested' : 'wrong field',
    kind: 'object',
    fields: { action, ...BASE[action], [field]: value },
    id,
    outcomes: ['error:bad_request'],
  }));

const bothCursors: fc.Arbitrary<Spec> = fc.record({ before: statusId, after: statusId, id: idMode }).map(({ before, after, id }) => ({
  category: 'wrong field',
  kind: 'object',
  fields: { action: 'history', channel: POOL[0], before, after },
  id,
  outcomes: ['error:bad_request'],
}));

const badIdFrame: fc.Arbitrary<Spec> = fc.record({ action: fc.constantFrom(...ROUTES, 'levitate'), id: invalidId }).map(({ action, id }) => ({
  category: 'invalid id',
  kind: 'object',
  fields: { action, ...BASE[action] },
  id,
  outcomes: ['error:bad_request'],
}));

const unknownAction: fc.Arbitrary<Spec> = fc
  .record({
    action: fc.oneof(anyString.filter((s) => !ROUTES.includes(s)), notString, deep, fc.constantFrom('POST', '$connect', '$default', '$disconnect', 'Ping', ' ping', undefined)),
    extra: fc.dictionary(fc.string({ maxLength: 6 }).filter((k) => k !== 'action' && k !== 'id'), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
    id: idMode,
  })
  .map(({ action, extra, id }) => ({
    category: 'unknown action',
    kind: 'object',
    fields: { ...extra, ...(action === undefined ? {} : { action }) },
    id,
    outcomes: ['error:unknown_action'],
  }));

const unknownChannel: fc.Arbitrary<Spec> = fc
  .record({ action: fc.constantFrom('subscribe', 'unsubscribe', 'history'), channel: badChannel, id: idMode })
  .map(({ action, channel, id }) => ({
    category: 'unknown channel',
    kind: 'object',
    fields: action === 'history' ? { action, channel } : { action, channels: [channel] },
    id,
    outcomes: ['error:bad_request'],
  }));

const ping: fc.Arbitrary<Spec> = fc
  .record({ extra: fc.dictionary(fc.string({ maxLength: 6 }).filter((k) => k !== 'action' && k !== 'id'), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }), id: idMode })
  .map(({ extra, id }) => ({ category: 'valid', kind: 'object', fields: { ...extra, action: 'ping' }, id, outcomes: ['pong'] }));

/** Frames a client may send: they must work (or meet the post rate limit) in the middle of the fuzz. */
const valid: fc.Arbitrary<Spec> = fc.oneof(
  ping,
  fc.integer({ min: 1, max: 100 }).map((limit): Spec => ({ category: 'valid', kind: 'object', fields: { action: 'history', channel: `user:${FUZZER}`, limit }, id: { mode: 'valid' }, outcomes: ['history'] })),
  fc.subarray(POOL, { minLength: 1, maxLength: 5 }).map((channels): Spec => ({ category: 'valid', kind: 'object', fields: { action: 'subscribe', channels }, id: { mode: 'valid' }, outcomes: ['subscribed'] })),
  fc.subarray(POOL, { minLength: 1, maxLength: 5 }).map((channels): Spec => ({ category: 'valid', kind: 'object', fields: { action: 'unsubscribe', channels }, id: { mode: 'valid' }, outcomes: ['unsubscribed'] })),
  fc.array(userId, { minLength: 1, maxLength: 5 }).map((users): Spec => ({ category: 'valid', kind: 'object', fields: { action: 'presence', users }, id: { mode: 'valid' }, outcomes: ['presence'] })),
  fc.integer({ min: 1, max: 100 }).map((limit): Spec => ({ category: 'valid', kind: 'object', fields: { action: 'feed', limit }, id: { mode: 'valid' }, outcomes: ['feed'] })),
  fc.array(statusId, { minLength: 1, maxLength: 100 }).map((ids): Spec => ({ category: 'valid', kind: 'object', fields: { action: 'get', ids }, id: { mode: 'valid' }, outcomes: ['statuses'] })),
  fc.constantFrom('subscribe', 'history').map((action): Spec => ({
    category: 'forbidden',
    kind: 'object',
    fields: action === 'history' ? { action, channel: 'inbox:someone-else' } : { action, channels: [POOL[0], 'inbox:someone-else'] },
    id: { mode: 'valid' },
    outcomes: ['error:forbidden'],
  })),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 400 }).filter((t) => codePointCount(t.trim()) >= 1 && codePointCount(t.trim()) <= 500).map((text): Spec => ({
    category: 'valid post',
    kind: 'object',
    fields: { action: 'post', text },
    id: { mode: 'valid' },
    outcomes: ['posted', 'error:rate_limited'],
  })),
  statusId.map((replyTo): Spec => ({ category: 'valid post', kind: 'object', fields: { action: 'post', text: 're', replyTo }, id: { mode: 'valid' }, outcomes: ['error:not_found', 'error:rate_limited'] })),
);

const notJson: fc.Arbitrary<Spec> = fc
  .oneof(
    fc.string({ unit: 'grapheme', maxLength: 200 }).filter((s) => !isJsonObject(s)),
    fc.jsonValue({ maxDepth: 3 }).filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)).map((v) => JSON.stringify(v)),
    fc.constantFrom('', '{', '{"action":"post"', '{"action":"ping",}', "{'action':'ping'}", 'null', '[]', '{"action":"ping"}}', '\u0000'),
  )
  .map((data) => ({ category: 'not a JSON object', kind: 'text', data, outcomes: ['error:bad_request'] }));

const binary: fc.Arbitrary<Spec> = fc
  .oneof(fc.uint8Array({ minLength: 1, maxLength: 4096 }), fc.constant(new TextEncoder().encode('{"action":"ping","id":"b"}')))
  .map((data) => ({ category: 'binary frame', kind: 'bytes', data, binary: true, close: 1003 }));

const invalidUtf8: fc.Arbitrary<Spec> = fc
  .tuple(
    fc.string({ maxLength: 40 }),
    fc.constantFrom([0xff], [0xfe], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0x80], [0xf4, 0x90, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80]),
    fc.string({ maxLength: 40 }),
  )
  .map(([before, bad, after]) => ({
    category: 'invalid UTF-8',
    kind: 'bytes',
    data: Buffer.concat([Buffer.from(`{"action":"ping","x":"${before}`), Buffer.from(bad), Buffer.from(`${after}"}`)]),
    binary: false,
    close: 1007,
  }));

const bigFrame: fc.Arbitrary<Spec> = fc
  .integer({ min: 32 * 1024 + 1, max: 48 * 1024 })
  .map((bytes) => ({ category: 'frame over 32 KB', kind: 'bytes', data: Buffer.from(JSON.stringify({ action: 'post', text: 'x'.repeat(bytes) })), binary: false, close: 1009 }));

const bigMessage: fc.Arbitrary<Spec> = fc
  .integer({ min: 128 * 1024 + 1, max: 160 * 1024 })
  .map((bytes) => ({ category: 'message over 128 KB', kind: 'fragments', data: Buffer.alloc(bytes, 'a'), close: 1009 }));

const frameSpec: fc.Arbitrary<Spec> = fc.oneof(
  { weight: 30, arbitrary: wrongType },
  { weight: 3, arbitrary: bothCursors },
  { weight: 6, arbitrary: badIdFrame },
  { weight: 8, arbitrary: unknownAction },
  { weight: 8, arbitrary: unknownChannel },
  { weight: 14, arbitrary: valid },
  { weight: 10, arbitrary: notJson },
  { weight: 3, arbitrary: binary },
  { weight: 3, arbitrary: invalidUtf8 },
  { weight: 1, arbitrary: bigFrame },
  { weight: 1, arbitrary: bigMessage },
);

function isJsonObject(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}

/** JSON for a frame's fields, writing RawJson as it is. */
function write(value: unknown): string {
  if (value instanceof RawJson) return value.text;
  if (Array.isArray(value)) return `[${value.map(write).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    return `{${Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([key, v]) => `${JSON.stringify(key)}:${write(v)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

// --- running it ------------------------------------------------------------------------------

interface Mismatch {
  readonly category: string;
  readonly sent: string;
  readonly expected: string;
  readonly got: string;
}

const isReply = (f: Frame) => f.type !== 'status' && f.type !== 'notification';
const outcomeOf = (f: Frame) => (f.type === 'error' ? `error:${String(f['code'])}` : (f.type ?? JSON.stringify(f).slice(0, 80)));
const excerpt = (data: string | Uint8Array) => (typeof data === 'string' ? data : Buffer.from(data).toString('latin1')).slice(0, 160);
const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** The promise's value, or undefined after `ms`; the timer does not outlive the race. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

let stack: LocalStack;

beforeAll(async () => {
  // Test-only setting: the fuzzer sends its 2,000 frames as one user, far past the action budget
  // (400 cost units, then 20 a second), which would answer most valid frames rate_limited and leave
  // their handlers unexercised. Here the budget is wide enough never to refuse; it is attacked
  // in test/security/budgets.test.ts.
  stack = await LocalStack.start({ env: { UPDRAFT_FUNCTION_ENV: 'ACTION_RATE_BURST=1000000,ACTION_RATE_PER_SECOND=1000000' } });
});

afterAll(async () => {
  expect(await stack.stop()).toBe(0);
});

/** Every row of the Statuses table: how many, and which channel heads are among them. */
async function statusRows(): Promise<{ count: number; heads: Set<string> }> {
  let count = 0;
  const heads = new Set<string>();
  for await (const page of paginateScan({ client: stack.documentClient() }, { TableName: stack.tableName('Statuses'), ProjectionExpression: 'channel' })) {
    count += page.Count ?? 0;
    for (const item of page.Items ?? []) if (String(item['channel']).startsWith('head#')) heads.add(String(item['channel']));
  }
  return { count, heads };
}

/** One connection of the fuzzer: sends a frame, waits for its one reply or the close, reconnects after a close. */
class Worker {
  private client!: TestClient;
  readonly posted: { id: string; text: string }[] = [];
  /** How each kind of frame was answered: `category -> outcome -> count`. */
  readonly tally = new Map<string, Map<string, number>>();

  constructor(private readonly mismatches: Mismatch[]) {}

  async open(): Promise<void> {
    this.client = await stack.connect(FUZZER);
  }

  async run(spec: Spec, index: number): Promise<void> {
    await this.exchange(spec, index);
  }

  private count(category: string, outcome: string): void {
    const outcomes = this.tally.get(category) ?? new Map<string, number>();
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    this.tally.set(category, outcomes);
  }

  private async exchange(spec: Spec, index: number): Promise<void> {
    const client = this.client;
    client.frames.length = 0;
    if (spec.kind === 'bytes' || spec.kind === 'fragments') {
      if (spec.kind === 'bytes') client.socket.send(spec.data, { binary: spec.binary });
      else sendInFragments(client, spec.data);
      const closed = await within(client.closed, 15_000);
      const replies = client.frames.filter(isReply);
      this.count(spec.category, closed ? `close ${closed.code}` : 'open');
      if (closed?.code !== spec.close || replies.length > 0) {
        const sent = spec.kind === 'bytes' ? excerpt(spec.data) : `${spec.data.length} bytes in 16 KB frames`;
        this.mismatches.push({ category: spec.category, sent, expected: `close ${spec.close}`, got: `${closed ? `close ${closed.code}` : 'open'}; ${JSON.stringify(replies).slice(0, 200)}` });
      }
      await client.close();
      await this.open();
      return;
    }

    const requestId = `fz${index}`;
    const data =
      spec.kind === 'text'
        ? spec.data
        : write(spec.id.mode === 'absent' ? spec.fields : { ...spec.fields, id: spec.id.mode === 'valid' ? requestId : spec.id.value });
    const bytes = Buffer.from(data);
    // Past 32 KB: one frame (closed with 1009) or, every other time, frames of 16 KB (answered, up to 128 KB).
    const fragmented = bytes.length > FRAME_BYTES && index % 2 === 1;
    if (bytes.length > MESSAGE_BYTES || (bytes.length > FRAME_BYTES && !fragmented)) {
      return this.exchange({ category: spec.category, kind: fragmented ? 'fragments' : 'bytes', data: bytes, binary: false, close: 1009 }, index);
    }
    const echoed = spec.kind === 'object' && spec.id.mode === 'valid' ? requestId : undefined;
    const outcomes = spec.kind === 'object' && spec.id.mode === 'invalid' ? ['error:bad_request'] : spec.outcomes;
    if (fragmented) sendInFragments(client, bytes);
    else client.socket.send(data);
    const reply = await Promise.race([client.next(isReply, 15_000).catch(() => undefined), client.closed.then((c): Frame => ({ closed: c.code }))]);
    this.count(spec.category, reply === undefined ? 'no reply' : outcomeOf(reply));
    const ok = reply !== undefined && outcomes.includes(outcomeOf(reply)) && reply.id === echoed && (reply.type !== 'error' || typeof reply['message'] === 'string');
    if (!ok) {
      this.mismatches.push({ category: spec.category, sent: excerpt(data), expected: `${outcomes.join(' | ')} with id ${String(echoed)}`, got: JSON.stringify(reply ?? 'no reply in 15 s').slice(0, 300) });
      if (this.client.socket.readyState !== this.client.socket.OPEN) await this.open();
      return;
    }
    if (reply.type === 'posted') {
      const status = reply['status'] as { id: string; text: string };
      this.posted.push({ id: status.id, text: status.text });
    }
  }
}

function sendInFragments(client: TestClient, message: Uint8Array): void {
  for (let offset = 0; offset < message.length; offset += 16 * 1024) {
    client.socket.send(message.subarray(offset, offset + 16 * 1024), { fin: offset + 16 * 1024 >= message.length, binary: false });
  }
}

/** Another user posting while the fuzz runs, and a subscriber receiving each post. */
async function steadyTraffic(until: () => boolean) {
  const [poster, listener] = await Promise.all([stack.connect('steady-poster'), stack.connect('steady-listener')]);
  await listener.request({ action: 'subscribe', channels: ['user:steady-poster'] });
  const sentAt = new Map<string, number>();
  const latencies = new Map<string, number>();
  const refused: Frame[] = [];
  listener.socket.on('message', (data: Buffer) => {
    const frame = JSON.parse(data.toString('utf8')) as Frame;
    const text = frame.type === 'status' ? (frame['status'] as { text: string }).text : undefined;
    const started = text === undefined ? undefined : sentAt.get(text);
    if (text !== undefined && started !== undefined && !latencies.has(text)) latencies.set(text, performance.now() - started);
  });
  let n = 0;
  // One post a second and a little more: within the post rate limit whatever the burst.
  while (!until()) {
    const text = `steady ${n++}`;
    sentAt.set(text, performance.now());
    const reply = await poster.request({ action: 'post', text }, 15_000).catch((error: unknown): Frame => ({ type: 'timeout', message: error instanceof Error ? error.message : String(error) }));
    if (reply.type !== 'posted') refused.push(reply);
    await wait(1100);
  }
  const deadline = Date.now() + 15_000;
  while (latencies.size < sentAt.size && Date.now() < deadline) await wait(100);
  return { sent: sentAt.size, latencies: [...latencies.values()].sort((a, b) => a - b), refused };
}

it(`answers ${FRAMES} fuzzed frames as the protocol promises, keeps other users' traffic flowing, and stores nothing from a rejected frame`, async () => {
  const specs = fc.sample(frameSpec, { seed: SEED, numRuns: FRAMES });
  const rowsBefore = await statusRows();
  const mismatches: Mismatch[] = [];
  const workers = Array.from({ length: WORKERS }, () => new Worker(mismatches));
  // One after another: a handshake starts an authorizer container, and several cold ones at once are slow.
  for (const worker of workers) await worker.open();
  let fuzzing = true;
  const steady = steadyTraffic(() => !fuzzing);
  const started = performance.now();

  let next = 0;
  await Promise.all(
    workers.map(async (worker) => {
      for (let index = next++, spec = specs[index]; spec; index = next++, spec = specs[index]) await worker.run(spec, index);
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  fuzzing = false;
  const traffic = await steady;

  const tally = new Map<string, Map<string, number>>();
  for (const worker of workers) {
    for (const [category, outcomes] of worker.tally) {
      const merged = tally.get(category) ?? new Map<string, number>();
      for (const [outcome, count] of outcomes) merged.set(outcome, (merged.get(outcome) ?? 0) + count);
      tally.set(category, merged);
    }
  }
  const total = (outcomes: Map<string, number>) => [...outcomes.values()].reduce((a, b) => a + b, 0);
  const posted = workers.flatMap((w) => w.posted);
  console.log(
    [
      `fuzz: ${specs.length} frames tried in ${seconds.toFixed(1)} s (seed ${SEED}, ${WORKERS} connections; FUZZ_SEED=${SEED} FUZZ_FRAMES=${FRAMES} reproduces it)`,
      ...[...tally]
        .sort((a, b) => total(b[1]) - total(a[1]))
        .map(([category, outcomes]) => `  ${category}: ${total(outcomes)} (${[...outcomes].map(([o, n]) => `${o} ${n}`).join(', ')})`),
      `  fuzzer posts accepted within its rate limit: ${posted.length}; mismatches: ${mismatches.length}`,
      `  other user's traffic meanwhile: ${traffic.sent} posts, ${traffic.latencies.length} delivered; post-to-receive p50 ${percentile(traffic.latencies, 50).toFixed(0)} ms, p99 ${percentile(traffic.latencies, 99).toFixed(0)} ms, max ${(traffic.latencies.at(-1) ?? NaN).toFixed(0)} ms`,
    ].join('\n'),
  );

  expect(mismatches.slice(0, 20)).toEqual([]);
  expect(traffic.refused).toEqual([]);
  expect(traffic.sent).toBeGreaterThan(0);
  expect(traffic.latencies).toHaveLength(traffic.sent);

  // Stored: two rows per accepted post (by id and on the author's channel), and the head of each
  // channel posted to for the first time here (the fuzzer's and the steady sender's), nothing else.
  const newHeads = (rowsBefore.heads.has(`head#user:${FUZZER}`) ? 0 : 1) + (traffic.sent > 0 && !rowsBefore.heads.has('head#user:steady-poster') ? 1 : 0);
  const rowsAfter = await statusRows();
  expect(rowsAfter.count - rowsBefore.count).toBe(2 * (posted.length + traffic.sent) + newHeads);
  const { Items = [] } = await stack.documentClient().send(
    new QueryCommand({ TableName: stack.tableName('Statuses'), KeyConditionExpression: 'channel = :c', ExpressionAttributeValues: { ':c': `user:${FUZZER}` } }),
  );
  expect(Items.map((item) => item['id'] as string).sort()).toEqual(posted.map((p) => p.id).sort());
  const { Count: follows } = await stack.documentClient().send(
    new QueryCommand({ TableName: stack.tableName('Follows'), KeyConditionExpression: 'follower = :f', ExpressionAttributeValues: { ':f': FUZZER }, Select: 'COUNT' }),
  );
  expect(follows).toBe(0);

  // Nothing crashed: the stack answers a newcomer, and no function failed or logged an error.
  const newcomer = await stack.connect('after-the-fuzz');
  expect(await newcomer.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
  expect(stack.output).not.toMatch(/"level":"ERROR"| failed: |Internal server error|!!!/);
}, 300_000);
