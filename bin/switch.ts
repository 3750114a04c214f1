/**
 * The process `npm start` runs: the switch (src/main.ts) with the built-in acquirer simulators for acquirers
 * configured with port 0. This is the one place the product and its stand-in acquirers are put together.
 */
import { runMain } from '../src/main.js';
import { startBuiltInSimulator } from '../simulators/acquirer/builtin.js';

runMain({ startSimulator: startBuiltInSimulator });
