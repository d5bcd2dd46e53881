import pLimit, { type LimitFunction } from 'p-limit';
import type { ConnectionStore } from '../store/connections';
import type { DeliveryClient, DeliveryOutcome, Payload } from './delivery-client';

/** What fan-out logs through; Powertools' Logger is one. */
export interface FanOutLogger {
  warn(message: string, extra: Record<string, unknown>): void;
  error(message: string, extra: Record<string, unknown>): void;
}

export interface DelivererDeps {
  readonly connections: Pick<ConnectionStore, 'removeGone'>;
  /**
   * A DeliveryClient: keep-alive sockets, retries on 429 and 5xx with backoff and jitter,
   * Gone answered as `'gone'`; it throws only once it gives up on a delivery.
   */
  readonly delivery: Pick<DeliveryClient, 'post'>;
  /** Posts in flight at once, across everything this deliverer sends. */
  readonly concurrency: number;
  readonly logger: FanOutLogger;
  readonly now?: () => number;
  /** Closes a connection (DELETE on the Management API): one whose token expired. @default none are closed */
  readonly close?: (connectionId: string) => Promise<void>;
}

/** One frame on its way to many connections: its id for the logs, the frame serialized and hashed once, and when the last post of it succeeded. */
export interface Delivery {
  readonly statusId: string;
  readonly data: Payload;
  deliveredAt?: number;
}

/**
 * Posts frames to connections, for the stream consumer and the delivery workers alike:
 * bounded concurrency (pacing is the delivery client's), counts, and the removal of connections that
 * API Gateway says are gone (once each, and never posted to again in this invocation).
 */
export class Deliverer {
  delivered = 0;
  gone = 0;
  /** Subscribers whose token had expired: delivered nothing, and closed. */
  expired = 0;
  /** Deliveries that still failed after the client's retries; counted, never re-sent to everyone. */
  failed = 0;
  private readonly limit: LimitFunction;
  private readonly now: () => number;
  private readonly cleanups = new Map<string, Promise<void>>();

  constructor(private readonly deps: DelivererDeps) {
    this.limit = pLimit(deps.concurrency);
    this.now = deps.now ?? Date.now;
  }

  /** Posts the delivery to each connection; resolves when every post has succeeded or been given up. */
  async to(connectionIds: readonly string[], delivery: Delivery): Promise<void> {
    await Promise.all(connectionIds.map((id) => this.limit(() => this.post(id, delivery))));
  }

  /**
   * Closes connections whose token has expired, once each; they are posted nothing more in
   * this invocation, and their $disconnect removes their rows.
   */
  closeExpired(connectionIds: readonly string[] = []): void {
    const close = this.deps.close ?? (() => Promise.resolve());
    for (const connectionId of connectionIds) {
      if (this.cleanups.has(connectionId)) continue;
      this.expired++;
      this.cleanups.set(
        connectionId,
        close(connectionId).catch((error: unknown) => {
          // Gone already, or the call failed: it is left out of every delivery all the same.
          this.deps.logger.warn('could not close a connection whose token expired', { connectionId, error: describe(error) });
        }),
      );
    }
  }

  /** Resolves when the removal of every gone connection, and the close of every expired one, has been tried. */
  async settled(): Promise<void> {
    await Promise.all(this.cleanups.values());
  }

  private async post(connectionId: string, delivery: Delivery): Promise<void> {
    if (this.cleanups.has(connectionId)) return;
    let outcome: DeliveryOutcome;
    try {
      outcome = await this.deps.delivery.post(connectionId, delivery.data);
    } catch (error) {
      // The client has already retried what was worth retrying.
      this.failed++;
      this.deps.logger.warn('delivery failed after retries', { connectionId, statusId: delivery.statusId, error: describe(error) });
      return;
    }
    if (outcome === 'gone') {
      this.gone++;
      if (!this.cleanups.has(connectionId)) this.cleanups.set(connectionId, this.removeStale(connectionId));
    } else {
      this.delivered++;
      delivery.deliveredAt = Math.max(delivery.deliveredAt ?? 0, this.now());
    }
  }

  private removeStale(connectionId: string): Promise<void> {
    return this.deps.connections.removeGone(connectionId, this.now()).then(
      () => undefined,
      (error: unknown) => {
        // Its rows expire by TTL anyway; the next Gone for it tries again.
        this.deps.logger.warn('could not remove a stale connection', { connectionId, error: describe(error) });
      },
    );
  }
}

export function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
