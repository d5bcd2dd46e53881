import type { SQSBatchItemFailure } from 'aws-lambda';
import type { FanOutLogger } from '../../../shared/fanout/deliverer';
import { DeliveryClient } from '../../../shared/fanout/delivery-client';
import { Pacer } from '../../../shared/fanout/pacer';
import { deliverSegments, type SegmentRecord, type WorkerDeps } from '../../../shared/fanout/worker';
import { MeteredSubscriptions, newStoreMeter, type StoreMeter } from './metered-subscriptions';
import { openStore, REGION, type OpenStore, type StoreSpec } from './subscribers';

/** Fake credentials: the model Management API does not check signatures. */
export const CREDENTIALS = { accessKeyId: 'AKIDSCALEBENCH', secretAccessKey: 'scale-bench-secret' };

/** Logs the first few lines of each kind to stderr, and counts them all. */
export class QuietLogger implements FanOutLogger {
  warnings = 0;
  errors = 0;
  warn(message: string, extra: Record<string, unknown>): void {
    if (++this.warnings <= 3) console.error(`warn: ${message} ${JSON.stringify(extra)}`);
  }
  error(message: string, extra: Record<string, unknown>): void {
    if (++this.errors <= 3) console.error(`error: ${message} ${JSON.stringify(extra)}`);
  }
}

/**
 * ConnectionStore.removeGone as fan-out calls it on a 410: counted (a GetItem and a
 * BatchWriteItem, costed by the bench) and answered after `latencyMs`.
 */
export function goneRemover(latencyMs: number): { readonly connections: { removeGone(): Promise<boolean> }; readonly removals: () => number; reset(): void } {
  let removals = 0;
  return {
    connections: {
      removeGone: async () => {
        removals++;
        await new Promise((resolve) => setTimeout(resolve, latencyMs));
        return true;
      },
    },
    removals: () => removals,
    reset: () => (removals = 0),
  };
}

export interface HostOptions {
  /** The model Management API's endpoint. */
  readonly endpoint: string;
  /** All the workers of the fleet (this host runs some of them). */
  readonly workers: number;
  readonly deliveryRps: number;
  readonly concurrency: number;
  readonly pacerBurst?: number;
  /** Modelled latency of DynamoDB calls the store does not make itself (removeGone). */
  readonly queryMs: number;
}

/** What a host counted since its last reset. */
export interface HostCounts {
  readonly meter: StoreMeter;
  readonly removals: number;
  readonly failed: number;
  readonly throttled: number;
  readonly rates: readonly number[];
  readonly warnings: number;
  readonly errors: number;
}

interface Container {
  readonly client: DeliveryClient;
  readonly pacer: Pacer;
  throttled: number;
}

/**
 * Warm delivery worker containers, as Lambda keeps them: each with its own
 * DeliveryClient (keep-alive sockets) and Pacer at deliveryRps / workers, wired as
 * lambdas/deliver.ts wires them, reused from one invocation to the next.
 */
export class ContainerHost {
  private readonly containers = new Map<number, Container>();
  private readonly logger = new QuietLogger();
  private readonly remover: ReturnType<typeof goneRemover>;
  private opened: OpenStore | undefined;
  private store: MeteredSubscriptions | undefined;
  private failed = 0;

  constructor(
    private readonly options: HostOptions,
    indices: readonly number[],
  ) {
    this.remover = goneRemover(options.queryMs);
    for (const index of indices) {
      const pacer = new Pacer({ ratePerSecond: options.deliveryRps / options.workers, ...(options.pacerBurst === undefined ? {} : { burstSeconds: options.pacerBurst }) });
      const container: Container = {
        pacer,
        throttled: 0,
        client: new DeliveryClient({
          endpoint: options.endpoint,
          region: REGION,
          credentials: CREDENTIALS,
          maxSockets: options.concurrency,
          // As lambdas/deliver.ts wires it: every attempt paced, every 429 counted.
          pacer: {
            take: () => pacer.take(),
            throttled: () => {
              container.throttled++;
              pacer.throttled();
            },
          },
        }),
      };
      this.containers.set(index, container);
    }
  }

  useStore(spec: StoreSpec): void {
    this.opened?.close();
    this.opened = openStore(spec);
    this.store = new MeteredSubscriptions(this.opened.store);
  }

  reset(): void {
    if (this.store) this.store.meter = newStoreMeter();
    this.remover.reset();
    this.failed = 0;
    this.logger.warnings = 0;
    this.logger.errors = 0;
    for (const container of this.containers.values()) container.throttled = 0;
  }

  /** One invocation of the delivery worker in container `index`. */
  async invoke(index: number, records: readonly SegmentRecord[]): Promise<{ batchItemFailures: SQSBatchItemFailure[] }> {
    const container = this.containers.get(index);
    if (!container || !this.store) throw new Error(`no container ${index} or no store`);
    const deps: WorkerDeps = {
      connections: this.remover.connections,
      subscriptions: this.store,
      delivery: container.client,
      concurrency: this.options.concurrency,
      logger: this.logger,
    };
    const result = await deliverSegments(records, deps);
    this.failed += result.failed;
    return { batchItemFailures: result.batchItemFailures };
  }

  collect(): HostCounts {
    const containers = [...this.containers.values()];
    return {
      meter: this.store?.meter ?? newStoreMeter(),
      removals: this.remover.removals(),
      failed: this.failed,
      throttled: containers.reduce((sum, container) => sum + container.throttled, 0),
      rates: containers.map((container) => container.pacer.currentRate),
      warnings: this.logger.warnings,
      errors: this.logger.errors,
    };
  }

  async destroy(): Promise<void> {
    this.opened?.close();
    await Promise.all([...this.containers.values()].map((container) => container.client.destroy()));
  }
}
