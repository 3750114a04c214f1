/** Route health: the failure detector's score and verdict per service, circuit breaker states and transitions. */
import client from 'prom-client';
import type { LinkBreakers, BreakerState } from '../routing/breakers.js';
import { registry, nameLabel, type Unbind } from './registry.js';

interface DetectorSource {
  health(id: string): { alive: boolean; score: number };
  ids: () => readonly string[];
}
const detectors = new Set<DetectorSource>();

export const detectorScore = new client.Gauge({
  name: 'switch_detector_score',
  help: 'Failure detector score per service (acquirer or terminal): 0 healthy .. 1 failing',
  labelNames: ['service'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const d of detectors) for (const id of d.ids()) this.set({ service: nameLabel(id) }, d.health(id).score);
  },
});

export const detectorAlive = new client.Gauge({
  name: 'switch_detector_alive',
  help: 'Failure detector verdict per service: 1 alive, 0 dead',
  labelNames: ['service'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const d of detectors) for (const id of d.ids()) this.set({ service: nameLabel(id) }, d.health(id).alive ? 1 : 0);
  },
});

const BREAKER_VALUE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };
const breakerSources = new Set<Pick<LinkBreakers, 'states'>>();

export const breakerState = new client.Gauge({
  name: 'switch_breaker_state',
  help: 'Circuit breaker per acquirer: 0 closed, 1 half-open, 2 open',
  labelNames: ['acquirer'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const b of breakerSources) for (const [id, s] of Object.entries(b.states())) this.set({ acquirer: nameLabel(id) }, BREAKER_VALUE[s]);
  },
});

export const breakerTransitions = new client.Counter({
  name: 'switch_breaker_transitions_total',
  help: 'Circuit breaker state changes per acquirer and new state',
  labelNames: ['acquirer', 'state'] as const,
  registers: [registry],
});

/**
 * Export a failure detector's verdicts (acquirer and terminal ids from `ids`, e.g. the active rules'
 * terminals and acquirers). Read on every scrape; nothing is recorded in between.
 */
export function bindDetectorMetrics(
  detector: { health(id: string): { alive: boolean; score: number } },
  ids: readonly string[] | (() => readonly string[]),
): Unbind {
  const src: DetectorSource = { health: (id) => detector.health(id), ids: typeof ids === 'function' ? ids : () => ids };
  detectors.add(src);
  return () => {
    detectors.delete(src);
  };
}

/** Export breaker states (read on scrape). Pass breakerStateListener as LinkBreakers' onStateChange to count transitions. */
export function bindBreakerMetrics(breakers: Pick<LinkBreakers, 'states'>): Unbind {
  breakerSources.add(breakers);
  return () => {
    breakerSources.delete(breakers);
  };
}

export function breakerStateListener(acquirer: string, state: BreakerState): void {
  breakerTransitions.inc({ acquirer: nameLabel(acquirer), state });
}
