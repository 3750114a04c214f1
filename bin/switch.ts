/**
 * The process `npm start` runs: the switch (src/main.ts) with the built-in acquirer simulators for acquirers
 * configured with port 0. This is the one place the product and its stand-in acquirers are put together.
 *
 * Under `npm run cluster` (docs/deploy.md) the simulators run once in the cluster's process and every instance
 * is told where (SWITCH_SHARED_SIMULATORS, a JSON object: acquirer id → { port, controlUrl }); an acquirer
 * with port 0 that is not in it gets a simulator of its own, as under `npm start`.
 */
import { runMain } from '../src/main.js';
import type { StartBuiltInSimulator } from '../src/switch/acquirers.js';
import { startBuiltInSimulator } from '../simulators/acquirer/builtin.js';

function sharedSimulators(json: string | undefined): StartBuiltInSimulator {
  if (!json) return startBuiltInSimulator;
  const shared = JSON.parse(json) as Record<string, { port: number; controlUrl: string | null }>;
  return async (def) => {
    const s = shared[def.id];
    if (!s) return startBuiltInSimulator(def);
    return { host: '127.0.0.1', port: s.port, controlUrl: s.controlUrl, close: async () => undefined };
  };
}

runMain({ startSimulator: sharedSimulators(process.env.SWITCH_SHARED_SIMULATORS) });
