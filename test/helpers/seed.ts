/**
 * Seeded randomness for tests: every random choice a test makes comes from a seed it names, so a failure can
 * be replayed. The seed is printed; TEST_SEED in the environment replaces it (the seed a failure printed).
 *
 * - `testSeed(t, fallback)`: the seed of a test (TEST_SEED, else `fallback`), printed as a comment.
 * - `seededRandom(seed)`: uniform [0, 1) from the xorshift32 of ./fuzz-engine.ts, for code that wants Math.random.
 * - `propertyHolds(t, property, { seed, numRuns }, name)`: fast-check with a seed, as a tap assertion that fails
 *   with fast-check's report (counterexample, seed and path) when the property does not hold.
 */
import fc from 'fast-check';
import type { Test } from 'tap';
import { rng } from './fuzz-engine.js';

type Tap = Pick<Test, 'comment' | 'notOk' | 'equal'>;

/** The seed of a test: TEST_SEED from the environment (to replay a failure), else `fallback`; printed. */
export function testSeed(t: Pick<Tap, 'comment'>, fallback: number): number {
  const env = process.env.TEST_SEED;
  const seed = env !== undefined && env !== '' ? Number(env) >>> 0 : fallback >>> 0;
  t.comment(`seed ${seed} (replay with TEST_SEED=${seed})`);
  return seed;
}

/** Uniform [0, 1) from a seed (xorshift32 as in ./fuzz-engine.ts), a stand-in for Math.random. */
export function seededRandom(seed: number): () => number {
  // the seed mixed first, so neighbouring seeds (seed + worker) start far apart
  let h = Math.imul((seed >>> 0) ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  const next = rng((h ^ (h >>> 16)) >>> 0);
  return () => next() / 4294967296;
}

/**
 * Checks a fast-check property with a fixed seed and asserts it held over all `numRuns` runs; a failure carries
 * fast-check's report (the shrunk counterexample, the seed and the path to replay it). FC_SEED in the
 * environment replaces the seed.
 */
export async function propertyHolds<Ts>(
  t: Tap,
  property: fc.IRawProperty<Ts>,
  params: fc.Parameters<Ts> & { seed: number; numRuns: number },
  name: string,
): Promise<fc.RunDetails<Ts>> {
  const seed = process.env.FC_SEED !== undefined && process.env.FC_SEED !== '' ? Number(process.env.FC_SEED) : params.seed;
  const r = await fc.check(property, { ...params, seed });
  // (the report's types want RunDetails<Ts | null>; the value is the same object)
  const report = r.failed ? fc.defaultReportMessage(r as unknown as fc.RunDetails<unknown> & { failed: true }) : undefined;
  t.notOk(r.failed, `${name}: ${r.failed ? 'failed' : 'held'} over ${r.numRuns} runs (seed ${r.seed})`, report ? { report } : {});
  if (!r.failed) t.equal(r.numRuns, params.numRuns, `${name}: every run checked (none skipped)`);
  return r;
}
