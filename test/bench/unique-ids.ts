/**
 * Attack: can two statuses get one id? (issue 23). Against a running local stack's publish API
 * (`npm start`), round after round with fresh users:
 *
 *   - C posts two roots and A one, one after another;
 *   - then at once: A replies to C's first root, A replies to A's root, B replies to C's second
 *     root, and A posts a new root. These write disjoint sets of channels, so their ids may be
 *     raised from the same head value (shared/store/posts.ts).
 *
 * Each round checks that the seven statuses have seven ids, and that `GET /statuses/<id>` answers
 * each of the four concurrent ones with its own author, text and thread. Prints figures (and JSON
 * with --json); exits 1 if any round found a duplicate or a wrong read.
 *
 *   npm start                                  # in another terminal
 *   npm run bench:ids -- [--rounds 500] [--url http://127.0.0.1:3000] [--json]
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { PublishApiClient, publishTarget } from '../../clients/cli/publish';
import { isRecord, parseServerStatus } from '../../shared/protocol/frames';
import type { PublishRequest, Status } from '../../shared/protocol/types';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '500' },
    url: { type: 'string', default: `http://127.0.0.1:${process.env['UPDRAFT_PORT'] ?? '3000'}` },
    json: { type: 'boolean', default: false },
  },
});
const ROUNDS = Number(args.rounds);
const api = new PublishApiClient(
  publishTarget({ stackUrl: args.url }, process.env, () => {
    throw new Error('the local stack needs no credential chain');
  }),
);

const publish = async (request: Omit<PublishRequest, 'id'>): Promise<Status> => (await api.publish({ ...request, id: randomUUID() })).status;

async function read(id: string): Promise<Status | undefined> {
  const { status, body } = await api.send('GET', `/statuses/${encodeURIComponent(id)}`);
  return status === 200 && isRecord(body) ? parseServerStatus(body['status']) : undefined;
}

interface Round {
  readonly duplicate: boolean;
  /** Concurrent statuses whose read by id answered another status, or none. */
  readonly wrongReads: number;
  readonly ms: number;
}

async function round(run: string, n: number): Promise<Round> {
  const [a, b, c] = ['a', 'b', 'c'].map((who) => `ids-${run}-${n}-${who}`) as [string, string, string];
  const started = Date.now();
  const c1 = await publish({ author: c, text: `c root 1 (${n})` });
  const c2 = await publish({ author: c, text: `c root 2 (${n})` });
  const a1 = await publish({ author: a, text: `a root (${n})` });
  const racing = await Promise.all([
    publish({ author: a, text: `a answers c (${n})`, replyTo: c1.id }),
    publish({ author: a, text: `a answers a (${n})`, replyTo: a1.id }),
    publish({ author: b, text: `b answers c (${n})`, replyTo: c2.id }),
    publish({ author: a, text: `a root 2 (${n})` }),
  ]);
  const ids = [c1, c2, a1, ...racing].map((status) => status.id);
  const reads = await Promise.all(racing.map((status) => read(status.id)));
  const wrongReads = racing.filter((status, i) => {
    const got = reads[i];
    return got?.author !== status.author || got.text !== status.text || got.replyTo !== status.replyTo;
  }).length;
  return { duplicate: new Set(ids).size !== ids.length, wrongReads, ms: Date.now() - started };
}

async function main(): Promise<void> {
  const run = randomUUID().slice(0, 6);
  const rounds: Round[] = [];
  for (let n = 0; n < ROUNDS; n++) {
    rounds.push(await round(run, n));
    if (!args.json && (n + 1) % 50 === 0) process.stderr.write(`${n + 1}/${ROUNDS} rounds\n`);
  }
  const ms = rounds.map((r) => r.ms).sort((x, y) => x - y);
  const result = {
    rounds: ROUNDS,
    statuses: ROUNDS * 7,
    roundsWithDuplicate: rounds.filter((r) => r.duplicate).length,
    wrongReads: rounds.reduce((sum, r) => sum + r.wrongReads, 0),
    roundMsP50: ms[Math.floor(ms.length / 2)] ?? 0,
  };
  if (args.json) console.log(JSON.stringify(result));
  else {
    console.log(`${result.rounds} rounds, ${result.statuses} statuses (4 of each round posted at once)`);
    console.log(`rounds with two statuses on one id: ${result.roundsWithDuplicate}`);
    console.log(`reads by id that answered another status or none: ${result.wrongReads}`);
    console.log(`a round took ${result.roundMsP50} ms (median)`);
  }
  if (result.roundsWithDuplicate > 0 || result.wrongReads > 0) process.exitCode = 1;
}

void main();
