/**
 * The environment of a child node process a test starts (the switch, a CLI, a simulator): tap's coverage turned
 * off in it. tap would record the child's coverage too, but the child runs through tsx, whose output tap's report
 * maps to a single line per file, and merged with the test's own coverage that made src/'s line totals change from
 * run to run. So coverage counts what the tests run in their own processes, the same way every run
 * (docs/CONTRIBUTING.md, "Coverage"). tap still follows the child (its process tree), only without coverage.
 */
const NO_COVERAGE = { _TAPJS_PROCESSINFO_COVERAGE_: '0' } as const;

/** The test's own environment, `extra` on top, without coverage. */
export function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return { ...process.env, ...extra, ...NO_COVERAGE };
}

/** A new user's environment (PATH and HOME only), `extra` on top, without coverage. */
export function bareChildEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...extra, ...NO_COVERAGE };
}
