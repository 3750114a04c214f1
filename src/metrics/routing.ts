/** Routing decisions by rule and terminal, risk levels, the rules version in use. */
import client from 'prom-client';
import type { RiskLevel } from '../routing/types.js';
import { registry, nameLabel, type Unbind } from './registry.js';

export const routingDecisions = new client.Counter({
  name: 'switch_routing_decisions_total',
  help: 'Routing decisions by rule and chosen terminal ("declined" when the rules declined)',
  labelNames: ['rule', 'terminal', 'outcome'] as const,
  registers: [registry],
});

export const riskLevels = new client.Counter({
  name: 'switch_risk_levels_total',
  help: 'Risk levels assigned to authorizations',
  labelNames: ['level'] as const,
  registers: [registry],
});

const versionSources = new Set<() => number | null>();

export const rulesVersion = new client.Gauge({
  name: 'switch_rules_version',
  help: 'Routing rules version in use by this instance',
  registers: [registry],
  collect() {
    for (const v of versionSources) {
      const n = v();
      if (n !== null) this.set(n);
    }
  },
});

/** The rules version in use, read on every scrape (e.g. the rules watcher's). */
export function bindRulesVersion(version: () => number | null): Unbind {
  versionSources.add(version);
  return () => {
    versionSources.delete(version);
  };
}

// Known label sets start at 0, so rates and alerts have a series before the first event.
for (const level of ['trusted', 'low', 'high', 'fatal'] as const) riskLevels.inc({ level }, 0);

/** The route of one answered request: its rule and terminal (terminal null: the rules declined it). */
export function recordRouteOutcome(rule: string | null, terminal: string | null): void {
  routingDecisions.inc({ rule: nameLabel(rule ?? 'none'), terminal: terminal ? nameLabel(terminal) : 'declined', outcome: terminal ? 'route' : 'decline' });
}

export function recordRiskLevel(level: RiskLevel): void {
  riskLevels.inc({ level });
}
