import { cursorAt, type UpdraftClient } from '../../shared/client';
import type { ChannelName } from '../../shared/protocol';
import { TestClient } from './ws-client';

/** What one watcher was handed on each channel: ids, in the order handed over. */
export type View = Map<ChannelName, string[]>;

/**
 * Issue 13's check, shared by the chaos test and the soak benchmark: what clients of the library
 * hand over, per watcher and channel, and what they recovered, to hold against the store's
 * channels at the end. A watcher is a name, not a client: the clients it has one after another
 * (an app restarting) add to the same view.
 */
export class ChannelViews {
  readonly views = new Map<string, View>();
  readonly recovery = { gaps: 0, recovered: 0, lost: 0, reconnections: 0, delivered: 0 };

  /** Records what `client` hands over into `name`'s view; notifications go to `inbox`, the channel they arrive without. */
  watch(name: string, client: UpdraftClient, inbox?: ChannelName): void {
    let view = this.views.get(name);
    if (!view) this.views.set(name, (view = new Map<ChannelName, string[]>()));
    const add = (channel: ChannelName, id: string) => {
      this.recovery.delivered++;
      const seen = view.get(channel);
      if (seen) seen.push(id);
      else view.set(channel, [id]);
    };
    client.events.on('status', ({ channel, status }) => add(channel, status.id));
    if (inbox) client.events.on('notification', (notification) => add(inbox, notification.id));
    client.events.on('gap', () => this.recovery.gaps++);
    client.events.on('recovered', ({ lost }) => {
      this.recovery.recovered++;
      this.recovery.lost += lost.length;
    });
    // One reconnection from the drop to live again: `reconnecting` comes more than once on the way
    // (when the wait starts, when the attempt does, after every failed attempt).
    let dropped = false;
    client.events.on('state', ({ state }) => {
      if (state === 'reconnecting') dropped = true;
      else if (state === 'live' && dropped) {
        dropped = false;
        this.recovery.reconnections++;
      }
    });
  }
}

/**
 * A channel as the store holds it, oldest first (`history` after `cursorAt(0)`, paged to the end):
 * the truth every view must equal. `token` must be the owner's for an inbox, which no one else may read.
 */
export async function readChannel(wsUrl: string, token: string, channel: ChannelName): Promise<string[]> {
  const reader = await TestClient.open(`${wsUrl}?token=${token}`);
  try {
    const ids: string[] = [];
    for (let after: unknown = cursorAt(0); typeof after === 'string'; ) {
      const page = await reader.request({ action: 'history', channel, after, limit: 100 });
      if (page.type !== 'history') throw new Error(`history of ${channel} refused: ${JSON.stringify(page)}`);
      ids.push(...(page['items'] as { id: string }[]).map((item) => item.id));
      after = page['next'];
      // Only the frames of the page in hand are needed: a long channel must not pile up here.
      reader.frames.length = 0;
    }
    return ids;
  } finally {
    await reader.close();
  }
}

/** How a view of a channel differs from the store's: all zero when it equals it exactly. */
export interface Difference {
  /** Store items never handed over. */
  readonly missing: number;
  /** Handed over more than once (each extra time counts). */
  readonly duplicated: number;
  /** Handed over after an item that comes later in the store. */
  readonly outOfOrder: number;
  /** Handed over but not in the store. */
  readonly unknown: number;
}

export function difference(seen: readonly string[], store: readonly string[]): Difference {
  const index = new Map(store.map((id, i) => [id, i]));
  const handed = new Set<string>();
  let duplicated = 0;
  let outOfOrder = 0;
  let unknown = 0;
  let furthest = -1;
  for (const id of seen) {
    if (handed.has(id)) {
      duplicated++;
      continue;
    }
    handed.add(id);
    const at = index.get(id);
    if (at === undefined) unknown++;
    else if (at < furthest) outOfOrder++;
    else furthest = at;
  }
  return { missing: store.filter((id) => !handed.has(id)).length, duplicated, outOfOrder, unknown };
}
