import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { Status } from '../../../shared/protocol';
import { ClaimStore } from '../../../shared/store/claims';
import { ChannelHeads } from '../../../shared/store/heads';
import { PostLog } from '../../../shared/store/posts';
import { StatusStore } from '../../../shared/store/statuses';
import { startStoreDatabase, tableNames, type StoreDatabase } from '../../support/dynamodb-local';

let database: StoreDatabase;
let log: PostLog;
let claims: ClaimStore;
let statuses: StatusStore;

beforeAll(async () => {
  database = await startStoreDatabase();
  claims = new ClaimStore(database.db, tableNames.Connections);
  log = new PostLog(database.db, tableNames.Statuses, claims);
  statuses = new StatusStore(database.db, tableNames.Statuses);
});
afterAll(() => database.stop());

const NOW = Date.parse('2026-11-27T12:00:00.000Z');
let serial = 0;
/** A status with an id of its own (ULID-shaped, increasing, with room below the next for ids the log raises). */
function aStatus(author: string, fields: Partial<Status> = {}): Status {
  const id = `01JD${String(++serial).padStart(10, '0')}${'0'.repeat(12)}`;
  return { id, author, text: `status ${serial}`, createdAt: new Date(NOW + serial).toISOString(), ...fields };
}

/** Every row of a channel, as stored. */
async function rowsOf(channel: string) {
  const { Items = [] } = await database.db.send(
    new QueryCommand({ TableName: tableNames.Statuses, KeyConditionExpression: 'channel = :c', ExpressionAttributeValues: { ':c': channel } }),
  );
  return Items;
}

describe('PostLog and StatusStore', () => {
  it('stores a status on its channels and under its id, and reads it back by id', async () => {
    const status = aStatus('post-ann');

    expect(await log.append({ status, channels: ['user:post-ann'] }, undefined, NOW)).toEqual({ status, duplicate: false });

    expect(await statuses.get(status.id)).toEqual(status);
    expect((await statuses.page({ channel: 'user:post-ann', limit: 10 })).items).toEqual([{ ...status, pos: 1 }]);
  });

  it('stores a reply in its thread and notifies the answered user in their inbox', async () => {
    const root = aStatus('reply-bob');
    const reply = aStatus('reply-ann', { replyTo: root.id, thread: root.id });
    const notification = { id: reply.id, kind: 'reply' as const, from: 'reply-ann', status: reply, at: reply.createdAt };

    await log.append({ status: reply, channels: ['user:reply-ann', `thread:${root.id}`], notifications: [{ channel: 'inbox:reply-bob', notification }] });

    expect((await statuses.page({ channel: `thread:${root.id}`, limit: 10 })).items).toEqual([{ ...reply, pos: 1 }]);
    expect((await statuses.page({ channel: 'inbox:reply-bob', limit: 10 })).items).toEqual([{ ...notification, pos: 1 }]);
    expect(await statuses.get(reply.id)).toEqual(reply);
  });

  it('stores a follow notification on its own', async () => {
    const notification = { id: aStatus('x').id, kind: 'follow' as const, from: 'fol-ann', at: new Date(NOW).toISOString() };

    await log.notify('inbox:fol-bob', notification);

    expect((await statuses.page({ channel: 'inbox:fol-bob', limit: 10 })).items).toEqual([{ ...notification, pos: 1 }]);
  });

  describe('positions', () => {
    it('numbers a channel 1, 2, 3... in commit order, ids rising with them, when 50 people reply at once', async () => {
      const root = aStatus('busy-root');
      const replies = Array.from({ length: 50 }, (_, i) => aStatus(`busy-${i}`, { replyTo: root.id, thread: root.id }));

      const results = await Promise.all(replies.map((reply) => log.append({ status: reply, channels: [`user:${reply.author}`, `thread:${root.id}`] })));

      const rows = await rowsOf(`thread:${root.id}`);
      expect(rows).toHaveLength(50);
      // Rows come back in id order: their positions must be 1..50 in that same order.
      expect(rows.map((row): unknown => row['pos'])).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      expect(new Set(results.map((result) => result.status.id)).size).toBe(50);
      expect((await new ChannelHeads(database.db, tableNames.Statuses).read([`thread:${root.id}`])).get(`thread:${root.id}`)).toEqual({
        pos: 50,
        last: String(rows.at(-1)?.['id']),
      });
    });

    it('raises an id that would sort below the channel head, on every row of the post', async () => {
      const late = aStatus('skew-gil');
      const early = { ...aStatus('skew-gil'), id: `01JC${'0'.repeat(22)}` };
      const notification = { id: early.id, kind: 'reply' as const, from: 'skew-gil', status: early, at: early.createdAt };
      await log.append({ status: late, channels: ['user:skew-gil'] });

      const { status } = await log.append({ status: early, channels: ['user:skew-gil'], notifications: [{ channel: 'inbox:skew-hal', notification }] });

      expect(status.id > late.id).toBe(true);
      expect(status).toEqual({ ...early, id: status.id });
      expect((await rowsOf('user:skew-gil')).map((row): unknown[] => [row['id'], row['pos']])).toEqual([
        [late.id, 1],
        [status.id, 2],
      ]);
      expect(await statuses.get(status.id)).toEqual(status);
      expect((await statuses.page({ channel: 'inbox:skew-hal', limit: 10 })).items).toEqual([{ ...notification, id: status.id, status, pos: 1 }]);
    });

    it('gives two statuses raised from one head, on channels they do not share, two ids, each read back by id', async () => {
      // Proposed before the status below was stored, as by a container whose clock lags.
      const ann = aStatus('same-ann');
      const bob = aStatus('same-bob', { replyTo: `01JB${'0'.repeat(22)}`, thread: `01JB${'0'.repeat(22)}` });
      // One status on both channels: both heads now hold its id.
      const shared = aStatus('same-cy');
      await log.append({ status: shared, channels: ['user:same-ann', 'user:same-bob'] });

      const first = await log.append({ status: ann, channels: ['user:same-ann'] });
      const second = await log.append({ status: bob, channels: ['user:same-bob'] });

      expect(first.status.id > shared.id && second.status.id > shared.id).toBe(true);
      expect(second.status.id).not.toBe(first.status.id);
      expect(await statuses.get(first.status.id)).toEqual({ ...ann, id: first.status.id });
      expect(await statuses.get(second.status.id)).toEqual({ ...bob, id: second.status.id });
      expect((await rowsOf('user:same-bob')).map((row): unknown[] => [row['id'], row['pos']])).toEqual([
        [shared.id, 1],
        [second.status.id, 2],
      ]);
    });

    it('gives statuses raised at once from one head distinct ids', async () => {
      const proposed = Array.from({ length: 4 }, (_, i) => aStatus(`race-${i}`));
      const shared = aStatus('race-hub');
      const channels = proposed.map((status) => `user:${status.author}`);
      await log.append({ status: shared, channels });

      const results = await Promise.all(proposed.map((status, i) => log.append({ status, channels: [channels[i] ?? ''] })));

      const ids = results.map((result) => result.status.id);
      expect(new Set(ids).size).toBe(proposed.length);
      const read = await Promise.all(ids.map((id) => statuses.get(id)));
      expect(read.map((status) => status?.author)).toEqual(proposed.map((status) => status.author));
    });

    it('reads a channel never written to at position 0', async () => {
      expect((await new ChannelHeads(database.db, tableNames.Statuses).read(['user:nobody-yet'])).get('user:nobody-yet')).toEqual({ pos: 0 });
    });
  });

  it('answers a post whose request id is claimed with the first status, writing nothing', async () => {
    const first = aStatus('retry-cy');
    const second = aStatus('retry-cy');
    const retry = { userId: 'retry-cy', requestId: 'r1' };

    await log.append({ status: first, channels: ['user:retry-cy'] }, retry, NOW);
    const again = await log.append({ status: second, channels: ['user:retry-cy'] }, retry, NOW + 1000);

    expect(again).toEqual({ status: first, duplicate: true });
    expect(await rowsOf('user:retry-cy')).toHaveLength(1);
    expect(await statuses.get(second.id)).toBeUndefined();
    expect(await claims.claimed(retry, NOW + 1000)).toEqual(first);
  });

  it('takes a claim whose time has passed as no claim, even before TTL deletes it', async () => {
    const first = aStatus('old-dee');
    const later = aStatus('old-dee');
    const retry = { userId: 'old-dee', requestId: 'r1' };
    await log.append({ status: first, channels: ['user:old-dee'] }, retry, NOW);
    const afterClaim = NOW + 11 * 60 * 1000;

    expect(await claims.claimed(retry, afterClaim)).toBeUndefined();
    expect(await log.append({ status: later, channels: ['user:old-dee'] }, retry, afterClaim)).toEqual({ status: later, duplicate: false });
    expect(await claims.claimed(retry, afterClaim)).toEqual(later);
  });

  it('stores all of a post or none of it', async () => {
    const status = aStatus('atomic-eve');
    // Two rows with the same key in one transaction: DynamoDB refuses the whole transaction.
    await expect(log.append({ status, channels: ['user:atomic-eve', 'user:atomic-eve'] })).rejects.toThrow();

    expect(await statuses.get(status.id)).toBeUndefined();
    expect(await rowsOf('user:atomic-eve')).toEqual([]);
  });

  describe('pages of a channel', () => {
    const channel = 'user:page-fay';
    const posted: Status[] = [];
    // As pages carry them: with their positions.
    const stored = () => posted.map((status, i) => ({ ...status, pos: i + 1 }));
    beforeAll(async () => {
      for (let i = 0; i < 5; i++) {
        const status = aStatus('page-fay');
        posted.push(status);
        await log.append({ status, channels: [channel] });
      }
    });

    it('reads newest first, saying whether more are there', async () => {
      expect(await statuses.page({ channel, limit: 3 })).toEqual({ items: stored().slice(2).reverse(), more: true });
      expect(await statuses.page({ channel, limit: 5 })).toEqual({ items: [...stored()].reverse(), more: false });
    });

    it('reads below a cursor, newest first, and after one, oldest first', async () => {
      expect(await statuses.page({ channel, before: posted[3]?.id, limit: 2 })).toEqual({ items: [stored()[2], stored()[1]], more: true });
      expect(await statuses.page({ channel, after: posted[1]?.id, limit: 10 })).toEqual({ items: stored().slice(2), more: false });
    });
  });
});
