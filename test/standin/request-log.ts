// Request log and per-endpoint counters. Entries hold the path WITHOUT query string and no
// header or body values, so no code, token or secret can end up in them.
import type { FaultKind } from './faults.ts';
import type { EndpointName } from './types.ts';

export interface RequestLogEntry {
  /** Wall-clock time the request arrived (ISO). */
  at: string;
  /** Controllable-clock time the request arrived (ISO). */
  clockAt: string;
  method: string;
  endpoint: EndpointName;
  path: string;
  /** 0 when the socket was dropped by a fault. */
  status: number;
  grantType?: string;
  /** The token request carried a valid DPoP proof (RFC 9449). */
  dpop?: true;
  fault?: FaultKind;
  durationMs: number;
}

export interface EndpointStats {
  requests: number;
  byStatus: Record<string, number>;
}

export type StandInStats = Partial<Record<EndpointName, EndpointStats>>;

/** Oldest entries are dropped beyond this, so benchmarks cannot exhaust memory. */
const MAX_ENTRIES = 200_000;

export class RequestLog {
  #entries: RequestLogEntry[] = [];
  #stats = new Map<EndpointName, EndpointStats>();

  record(entry: RequestLogEntry): void {
    this.#entries.push(entry);
    if (this.#entries.length > MAX_ENTRIES) this.#entries = this.#entries.slice(MAX_ENTRIES / 2);
    let stats = this.#stats.get(entry.endpoint);
    if (!stats) {
      stats = { requests: 0, byStatus: {} };
      this.#stats.set(entry.endpoint, stats);
    }
    stats.requests += 1;
    const key = String(entry.status);
    stats.byStatus[key] = (stats.byStatus[key] ?? 0) + 1;
  }

  entries(): RequestLogEntry[] {
    return this.#entries.map((e) => ({ ...e }));
  }

  stats(): StandInStats {
    const out: StandInStats = {};
    for (const [name, s] of this.#stats)
      out[name] = { requests: s.requests, byStatus: { ...s.byStatus } };
    return out;
  }

  clear(): void {
    this.#entries = [];
    this.#stats.clear();
  }
}
