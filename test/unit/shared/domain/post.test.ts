import { post, publish, type PostDeps } from '../../../../shared/domain/post';
import { IdempotencyConflict } from '../../../../shared/protocol';
import type { Status } from '../../../../shared/protocol';
import type { RetryKey } from '../../../../shared/store/claims';
import type { AppendResult, Entry } from '../../../../shared/store/posts';
import type { Charge } from '../../../../shared/store/rates';

/** Small fakes of the stores post() uses: a log that remembers entries and claims, a bucket with a fixed number of tokens. */
function fakes(tokens = 10, known: readonly Status[] = []) {
  const entries: Entry[] = [];
  const claims = new Map<string, Status>();
  const calls: string[] = [];
  let left = tokens;
  let ids = 0;
  const key = (retry: RetryKey) => `${retry.userId}#${retry.requestId}`;
  const deps: PostDeps = {
    statuses: { get: (id) => Promise.resolve(known.find((s) => s.id === id)) },
    log: {
      append: (entry: Entry, retry?: RetryKey): Promise<AppendResult> => {
        calls.push('append');
        const first = retry && claims.get(key(retry));
        if (first) return Promise.resolve({ status: first, duplicate: true });
        entries.push(entry);
        if (retry) claims.set(key(retry), entry.status);
        return Promise.resolve({ status: entry.status, duplicate: false });
      },
    },
    claims: { claimed: (retry) => Promise.resolve(claims.get(key(retry))) },
    rate: {
      take: (): Promise<Charge> => {
        calls.push('take');
        if (left === 0) return Promise.resolve({ allowed: false, retryAfterMs: 600 });
        left--;
        return Promise.resolve({ allowed: true });
      },
      refund: () => {
        calls.push('refund');
        left++;
        return Promise.resolve();
      },
    },
    newId: () => `01JD${String(++ids).padStart(22, '0')}`,
    now: () => new Date('2026-11-27T12:00:00.000Z'),
  };
  return { deps, entries, calls, tokensLeft: () => left };
}

const ROOT: Status = { id: '01JD000000000000000000R00T', author: 'bob', text: 'root', createdAt: '2026-11-27T11:00:00.000Z' };

describe('post', () => {
  it("puts a status on its author's channel, charging one token first", async () => {
    const { deps, entries, calls } = fakes();

    const { status } = await post(deps, 'alice', { text: 'hello' });

    expect(entries).toEqual([{ status, channels: ['user:alice'] }]);
    expect(status).toMatchObject({ author: 'alice', text: 'hello', createdAt: '2026-11-27T12:00:00.000Z' });
    expect(calls).toEqual(['take', 'append']);
  });

  it('files a reply in the thread of the root and notifies the author answered', async () => {
    const parent: Status = { ...ROOT, id: '01JD00000000000000000PARNT', author: 'carol', replyTo: ROOT.id, thread: ROOT.id };
    const { deps, entries } = fakes(10, [parent]);

    const { status } = await post(deps, 'alice', { text: 'agreed', replyTo: parent.id });

    expect(status).toMatchObject({ replyTo: parent.id, thread: ROOT.id });
    expect(entries).toEqual([
      {
        status,
        channels: ['user:alice', `thread:${ROOT.id}`],
        notifications: [{ channel: 'inbox:carol', notification: { id: status.id, kind: 'reply', from: 'alice', status, at: status.createdAt } }],
      },
    ]);
  });

  it('notifies no one of a reply to oneself', async () => {
    const { deps, entries } = fakes(10, [{ ...ROOT, author: 'alice' }]);

    await post(deps, 'alice', { text: 'and another thing', replyTo: ROOT.id });

    expect(entries[0]?.notifications).toBeUndefined();
  });

  it('refuses a reply to no status, storing nothing', async () => {
    const { deps, entries } = fakes();

    await expect(post(deps, 'alice', { text: 'hello?', replyTo: ROOT.id })).rejects.toMatchObject({ code: 'not_found' });
    expect(entries).toEqual([]);
  });

  it('answers a retry with the first status and gives its token back', async () => {
    const { deps, entries, calls, tokensLeft } = fakes(5);
    const first = await post(deps, 'alice', { text: 'hello' }, 'r1');

    const again = await post(deps, 'alice', { text: 'hello' }, 'r1');

    expect(again).toEqual({ status: first.status, duplicate: true });
    expect(entries).toHaveLength(1);
    expect(calls.at(-1)).toBe('refund');
    expect(tokensLeft()).toBe(4);
  });

  it('refuses a request id used for another text or replyTo with conflict, storing nothing and charging nothing', async () => {
    const { deps, entries, tokensLeft } = fakes(5, [ROOT]);
    const first = await post(deps, 'alice', { text: 'hello' }, 'r1');

    const changed = post(deps, 'alice', { text: 'hello, world' }, 'r1');
    await expect(changed).rejects.toMatchObject({ code: 'conflict' });
    await expect(changed).rejects.toThrow(first.status.id);
    await expect(post(deps, 'alice', { text: 'hello', replyTo: ROOT.id }, 'r1')).rejects.toThrow(IdempotencyConflict);

    expect(entries).toHaveLength(1);
    expect(tokensLeft()).toBe(4);
  });

  it('refuses a conflicting request id with conflict also when the bucket is empty', async () => {
    const { deps } = fakes(1);
    await post(deps, 'alice', { text: 'hello' }, 'r1');

    await expect(post(deps, 'alice', { text: 'goodbye' }, 'r1')).rejects.toMatchObject({ code: 'conflict' });
  });

  it('is rate limited when the bucket is empty, unless the request is a retry of one already stored', async () => {
    const { deps, entries } = fakes(1);
    const first = await post(deps, 'alice', { text: 'hello' }, 'r1');

    await expect(post(deps, 'alice', { text: 'more' })).rejects.toMatchObject({ code: 'rate_limited', message: 'posting too fast; try again in 0.6 s' });
    expect(await post(deps, 'alice', { text: 'hello' }, 'r1')).toEqual({ status: first.status, duplicate: true });
    expect(entries).toHaveLength(1);
  });
});

describe('publish (the publish API)', () => {
  it("stores the status as its author, with the request's id as that author's retry key", async () => {
    const { deps, entries } = fakes();

    const first = await publish(deps, { author: 'alice', text: 'imported', id: 'import-1' });
    const again = await publish(deps, { author: 'alice', text: 'imported', id: 'import-1' });
    const ownPost = await post(deps, 'alice', { text: 'imported' }, 'import-1');

    expect(first.status).toMatchObject({ author: 'alice', text: 'imported' });
    expect([again, ownPost]).toEqual([{ status: first.status, duplicate: true }, { status: first.status, duplicate: true }]);
    expect(entries).toHaveLength(1);
  });

  it('refuses an id already used for another status instead of answering with that status', async () => {
    const { deps, entries } = fakes(10, [ROOT]);
    await publish(deps, { author: 'alice', text: 'one', id: 'r1' });

    await expect(publish(deps, { author: 'alice', text: 'two', id: 'r1' })).rejects.toThrow(IdempotencyConflict);
    await expect(publish(deps, { author: 'alice', text: 'one', replyTo: ROOT.id, id: 'r1' })).rejects.toThrow(IdempotencyConflict);
    // Another author's id of the same name is theirs.
    expect((await publish(deps, { author: 'bea', text: 'two', id: 'r1' })).duplicate).toBe(false);
    expect(entries).toHaveLength(2);
  });
});
