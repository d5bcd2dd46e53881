import { DeliveryError, type DeliveryClient, type DeliveryOutcome, type Payload } from '../../shared/fanout/delivery-client';

/**
 * Stands in for DeliveryClient: records who was posted what, answers `'gone'` for the
 * ids in `gone` and, for those in `failing`, throws as the client does once it gives up.
 */
export class FakeDelivery implements Pick<DeliveryClient, 'post'> {
  readonly posts: { readonly connectionId: string; readonly data: Payload }[] = [];
  readonly gone = new Set<string>();
  readonly failing = new Set<string>();
  /** Awaited before each answer, so a test can hold posts in flight. */
  hold: (connectionId: string, frame: unknown) => Promise<void> = () => Promise.resolve();

  async post(connectionId: string, data: Payload): Promise<DeliveryOutcome> {
    this.posts.push({ connectionId, data });
    await this.hold(connectionId, frameOf(data));
    if (this.failing.has(connectionId)) throw new DeliveryError('PostToConnection failed: HTTP 429', 429, 3);
    return this.gone.has(connectionId) ? 'gone' : 'delivered';
  }

  sentTo(): string[] {
    return this.posts.map((post) => post.connectionId);
  }
}

export const frameOf = (data: Payload): unknown => JSON.parse(data.body.toString());
