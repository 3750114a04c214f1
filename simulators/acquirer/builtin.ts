/**
 * The built-in simulators of `npm start`: one acquirer host per acquirer configured with port 0 in
 * rules/acquirers.yaml, behaving as its `simulator` block says. The entry point (bin/switch.ts) hands
 * `startBuiltInSimulator` to the switch, so the switch itself (src/) never depends on simulators/.
 */
import type { AcquirerDef } from '../../src/routing/types.js';
import { framerByName } from '../../src/wire/index.js';
import { startAcquirerSimulator, type AcquirerSimulator } from './simulator.js';
import type { Behaviour } from './config.js';

/** Behaviour of a built-in simulator from the acquirer's `simulator` block in rules/acquirers.yaml. */
export function simulatorBehaviour(def: AcquirerDef): Partial<Behaviour> {
  const s = def.simulator;
  const b: Partial<Behaviour> = { defaultResponseCode: '00', rules: [] };
  if (!s) return b;
  const jitter = s.jitter_ms ?? 0;
  b.latency =
    jitter > 0
      ? { distribution: 'uniform', minMs: Math.max(0, s.latency_ms - jitter), maxMs: s.latency_ms + jitter }
      : { distribution: 'fixed', ms: s.latency_ms };
  // Test cards: a PAN ending in 0002 is declined with the acquirer's decline code (docs/switch.md).
  b.rules = [{ when: { panSuffix: '0002' }, respond: s.decline_code ?? '05' }];
  if (s.timeout_rate) b.faults = { neverAnswer: s.timeout_rate };
  return b;
}

/** Starts the simulator an acquirer with port 0 talks to, on 127.0.0.1 and a free port, with its control API. */
export function startBuiltInSimulator(def: AcquirerDef): Promise<AcquirerSimulator> {
  return startAcquirerSimulator({
    dialect: def.link.dialect,
    framer: framerByName(def.link.framer),
    host: '127.0.0.1',
    port: 0,
    control: true,
    behaviour: simulatorBehaviour(def),
    journal: { max: 50_000 },
    settlement: { ...(def.settlement?.file ? { layout: def.settlement.file } : {}), ...(def.settlement ? { cutover: def.settlement } : {}) },
  });
}
