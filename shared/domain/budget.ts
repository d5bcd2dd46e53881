import { Limits } from '../protocol';

/**
 * Bytes left for items in one reply. Replies that carry statuses share one
 * budget so that the whole reply stays under API Gateway's 128 KB message limit.
 */
export class ReplyBudget {
  constructor(private remaining: number = Limits.replyItemBytes) {}

  /** The longest prefix of `items` that fits, taking its bytes from the budget. */
  take<T>(items: readonly T[]): T[] {
    const taken: T[] = [];
    for (const item of items) {
      const bytes = Buffer.byteLength(JSON.stringify(item)) + 1;
      if (bytes > this.remaining) break;
      this.remaining -= bytes;
      taken.push(item);
    }
    return taken;
  }
}
