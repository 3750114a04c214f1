/**
 * The command-line convention of every entry point (docs/CONTRIBUTING.md, "Command-line entry points"):
 * `--help` or `-h` prints the usage on stdout and exits 0; an unknown option or a missing value prints the
 * error and the usage on stderr and exits 2. Nothing else runs in either case.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

export interface CliSpec<O extends Options> {
  /** Shown before the error: `load: Unknown option '--x'`. */
  name: string;
  /** The whole usage text: a first line `usage: npm run …`, then the options. */
  usage: string;
  options: O;
  allowPositionals?: boolean;
}

/** Written and exits the process on --help and on a usage error; the parsed values otherwise. */
export interface CliIo {
  out(s: string): void;
  err(s: string): void;
  exit(code: number): never;
}

const processIo: CliIo = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  exit: (code) => process.exit(code),
};

const withHelp = <O extends Options>(o: O) => ({ ...o, help: { type: 'boolean', short: 'h' } }) as O & { help: { type: 'boolean'; short: 'h' } };

/** Parses `argv` strictly, answering --help and usage errors (see the module comment). */
export function parseCli<O extends Options>(spec: CliSpec<O>, argv: string[] = process.argv.slice(2), io: CliIo = processIo) {
  const usage = spec.usage.endsWith('\n') ? spec.usage : `${spec.usage}\n`;
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: withHelp(spec.options), strict: true, allowPositionals: spec.allowPositionals ?? false });
  } catch (e) {
    // --help wins over anything else on the line, even an option this command does not know
    if (argv.includes('--help') || argv.includes('-h')) {
      io.out(usage);
      return io.exit(0);
    }
    io.err(`${spec.name}: ${e instanceof Error ? e.message : String(e)}\n${usage}`);
    return io.exit(2);
  }
  if ((parsed.values as { help?: boolean }).help) {
    io.out(usage);
    return io.exit(0);
  }
  return parsed;
}

/** A usage error found after parsing (a bad value): the message and the usage on stderr, exit 2. */
export function usageError(spec: Pick<CliSpec<Options>, 'name' | 'usage'>, message: string, io: CliIo = processIo): never {
  io.err(`${spec.name}: ${message}\n${spec.usage.endsWith('\n') ? spec.usage : `${spec.usage}\n`}`);
  return io.exit(2);
}

/**
 * Ends an entry point with its main's result: the number it resolves to is the exit code; a throw is
 * written as `prefix: message` on stderr and exits `failCode`.
 */
export function exitWith(run: Promise<number>, prefix: string, failCode: number): void {
  run.then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`${prefix}: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = failCode;
    },
  );
}
