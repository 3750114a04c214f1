/** Public surface of routing and risk for the switch core, the admin API and the CLI. */
export * from './types.js';
export { loadRuleSet, readRuleFiles, ruleSetFromContent, validateRuleFiles, RuleSetInvalidError, DEFAULT_RULES_DIR, type RuleProblem } from './rules-loader.js';
export { BinTable } from './bin-table.js';
export { compileRuleSet, type CompiledRules, type CompiledTerminal } from './compiler.js';
export { select, PERFECT_HEALTH, type HealthView, type BreakerView, type SuccessRateView, type SelectorDeps } from './selector.js';
export { RoutingEngine, checkContext, type RoutingEngineOptions } from './engine.js';
export {
  MemoryFailureDetector,
  DEFAULT_DETECTOR_OPTIONS,
  type FailureDetector,
  type CallToken,
  type FailureKind,
  type ServiceHealth,
  type DetectorOptions,
} from './detector.js';
export { RedisFailureDetector, type RedisDetectorOptions } from './detector-redis.js';
export { SuccessRateTracker } from './success-rate.js';
export { LinkBreakers, type BreakerState, type LinkBreakerOptions } from './breakers.js';
export { RuleVersionStore, RulesWatcher, migrateRouting, ROUTING_MIGRATIONS_DIR, type VersionInfo, type ActiveInfo } from './versions.js';
export { backtest, contextFromJson, pastDecisionFromJson, type PastDecision, type BacktestResult } from './backtest.js';
export { RiskScorer } from '../risk/scorer.js';
export { MemoryVelocityStore, RedisVelocityStore, type VelocityStore } from '../risk/velocity.js';
