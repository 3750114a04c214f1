/** Operators' manual controls in force (src/routing/manual-controls.ts, docs/routing.md "Manual controls"), read on scrape. */
import client from 'prom-client';
import { registry, nameLabel, type Unbind } from './registry.js';

interface ControlSource {
  list(): ReadonlyArray<{ targetKind: string; target: string; state: string }>;
}

const sources = new Set<ControlSource>();

export const manualControls = new client.Gauge({
  name: 'switch_manual_control',
  help: 'An operator control in force: 1 per terminal or acquirer drained, forced down or forced up',
  labelNames: ['target_kind', 'target', 'state'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const s of sources) for (const c of s.list()) this.set({ target_kind: c.targetKind, target: nameLabel(c.target), state: c.state }, 1);
  },
});

export function bindControlMetrics(controls: ControlSource): Unbind {
  sources.add(controls);
  return () => {
    sources.delete(controls);
  };
}
