// The list prices the cost estimate uses, in one table with the date they were read
// (docs/scale.md#cost). They are Google's published list prices in USD for a Tier 1 region
// (such as us-central1) with a regional Firestore database, before free tiers and discounts.
// Check them against the pages before relying on them: prices change.
import { functionShape } from './inputs.ts';
import type { PlanResult } from './model.ts';

export const PRICES_AS_OF = '2026-12-01';

export const PRICES = {
  runVcpuSecond: {
    usd: 0.000024,
    per: 'vCPU-second',
    what: 'Cloud Run, request-based billing, Tier 1',
    source: 'https://cloud.google.com/run/pricing',
  },
  runGibSecond: {
    usd: 0.0000025,
    per: 'GiB-second',
    what: 'Cloud Run, request-based billing, Tier 1',
    source: 'https://cloud.google.com/run/pricing',
  },
  runRequests: {
    usd: 0.4,
    per: 'million requests',
    what: 'Cloud Run requests',
    source: 'https://cloud.google.com/run/pricing',
  },
  firestoreReads: {
    usd: 0.03,
    per: '100,000 document reads',
    what: 'Firestore Standard, regional (multi-region nam5/eur3: 0.06)',
    source: 'https://cloud.google.com/firestore/pricing',
  },
  firestoreWrites: {
    usd: 0.09,
    per: '100,000 document writes',
    what: 'Firestore Standard, regional (multi-region: 0.18)',
    source: 'https://cloud.google.com/firestore/pricing',
  },
  firestoreDeletes: {
    usd: 0.01,
    per: '100,000 document deletes',
    what: 'Firestore Standard, regional (multi-region: 0.02); TTL deletes included',
    source: 'https://cloud.google.com/firestore/pricing',
  },
  pubsubTib: {
    usd: 40,
    per: 'TiB of throughput',
    what: 'Pub/Sub publish and delivery, at least 1000 bytes per request',
    source: 'https://cloud.google.com/pubsub/pricing',
  },
  kmsOperations: {
    usd: 0.03,
    per: '10,000 operations',
    what: 'Cloud KMS software keys (HSM elliptic-curve keys: 0.15)',
    source: 'https://cloud.google.com/kms/pricing',
  },
  secretAccesses: {
    usd: 0.03,
    per: '10,000 access operations',
    what: 'Secret Manager',
    source: 'https://cloud.google.com/secret-manager/pricing',
  },
} as const;

type PriceName = keyof typeof PRICES;

/** How many of each price's unit one figure is. */
const UNIT: Record<PriceName, number> = {
  runVcpuSecond: 1,
  runGibSecond: 1,
  runRequests: 1e6,
  firestoreReads: 1e5,
  firestoreWrites: 1e5,
  firestoreDeletes: 1e5,
  pubsubTib: 2 ** 40,
  kmsOperations: 1e4,
  secretAccesses: 1e4,
};

export interface CostLine {
  readonly item: string;
  readonly quantity: number;
  readonly price: PriceName;
  readonly usd: number;
}

/** The run's usage priced line by line: the worker and dispatcher, Firestore, Pub/Sub, KMS, secrets. */
export function costOf(result: PlanResult): CostLine[] {
  const { inputs, cloudRun, dispatch, firestore } = result;
  const dispatcher = functionShape('dispatcher');
  const dispatcherSeconds = dispatch.billableMs / 1000;
  const workerSeconds = cloudRun.billableMs / 1000;
  const line = (item: string, quantity: number, price: PriceName): CostLine => ({
    item,
    quantity,
    price,
    usd: (quantity / UNIT[price]) * PRICES[price].usd,
  });
  return [
    line('worker CPU (vCPU-s)', workerSeconds * inputs.vcpu, 'runVcpuSecond'),
    line('worker memory (GiB-s)', workerSeconds * inputs.memoryGib, 'runGibSecond'),
    line('dispatcher CPU (vCPU-s)', dispatcherSeconds * dispatcher.vcpu, 'runVcpuSecond'),
    line('dispatcher memory (GiB-s)', dispatcherSeconds * dispatcher.memoryGib, 'runGibSecond'),
    line(
      'requests (pushes and ticks)',
      cloudRun.deliveries + cloudRun.refused + dispatch.ticks,
      'runRequests',
    ),
    line('Firestore reads', firestore.reads, 'firestoreReads'),
    line('Firestore writes', firestore.writes, 'firestoreWrites'),
    line('Firestore deletes (TTL)', firestore.deletes, 'firestoreDeletes'),
    line('Pub/Sub bytes', result.pubsubBytes, 'pubsubTib'),
    line('Cloud KMS operations', result.kmsCalls, 'kmsOperations'),
    line('Secret Manager accesses', result.secretAccesses, 'secretAccesses'),
  ];
}
