/** Anything with a time-sortable id: statuses and notifications. */
export interface Identified {
  readonly id: string;
}

/**
 * Items kept in id order with no duplicates. Delivery is at least once and
 * channels interleave, so every view (feed, thread, inbox, a terminal tail)
 * goes through one of these rather than appending what arrives.
 */
export class Timeline<T extends Identified> {
  private readonly ids = new Set<string>();
  private readonly sorted: T[] = [];

  /** Adds an item in id order; returns false (and changes nothing) for an id already held. */
  add(item: T): boolean {
    if (this.ids.has(item.id)) return false;
    this.ids.add(item.id);
    this.sorted.splice(this.insertionPoint(item.id), 0, item);
    return true;
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  get size(): number {
    return this.sorted.length;
  }

  /** Oldest first. */
  items(): readonly T[] {
    return this.sorted;
  }

  /** Newest first, at most `limit`. */
  newest(limit = this.sorted.length): T[] {
    return this.sorted.slice(Math.max(0, this.sorted.length - limit)).reverse();
  }

  /** Removes every item the predicate matches (an unfollowed author's statuses, say). */
  removeWhere(match: (item: T) => boolean): void {
    for (let i = this.sorted.length - 1; i >= 0; i--) {
      const item = this.sorted[i];
      if (item !== undefined && match(item)) {
        this.sorted.splice(i, 1);
        this.ids.delete(item.id);
      }
    }
  }

  /** Binary search: new items are usually the newest, but a late one still lands in its place. */
  private insertionPoint(id: string): number {
    let low = 0;
    let high = this.sorted.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      const item = this.sorted[mid];
      if (item !== undefined && item.id < id) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}
