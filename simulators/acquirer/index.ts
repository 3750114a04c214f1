export { startAcquirerSimulator } from './simulator.js';
export type { AcquirerSimulator, AcquirerSimulatorOptions, SimulatorStats, SimulatorTlsOptions } from './simulator.js';
export { Journal } from './journal.js';
export type { JournalEntry, JournalFilter } from './journal.js';
export { DEFAULT_BEHAVIOUR, loadSimulatorConfig, parseSimulatorConfig, validateBehaviour, mergeBehaviour } from './config.js';
export type { Behaviour, Rule, RuleMatch, Latency, Faults, OutageWindow, SimulatorFileConfig } from './config.js';
export { Rng } from './random.js';
export { simulatorBehaviour, startBuiltInSimulator } from './builtin.js';
