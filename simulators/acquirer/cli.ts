/**
 * npm run sim:acquirer -- --config simulators/acquirer/example.yaml [--port N] [--control-port N]
 * Runs the acquirer simulator until SIGINT/SIGTERM.
 */
import { parseCli } from '../../src/cli/args.js';
import { loadSimulatorConfig, type SimulatorFileConfig } from './config.js';
import { startAcquirerSimulator } from './simulator.js';
import { isSwitchError } from '../../src/errors.js';

const USAGE = `usage: npm run sim:acquirer -- [--config file.yaml] [--port N] [--control-port N]

Runs the acquirer simulator (docs/network.md) until Ctrl-C or SIGTERM.
options:
  -c, --config FILE    YAML config: listen, dialect, framer, control, seed, behaviour
                       (example: simulators/acquirer/example.yaml)
  --port N             ISO 8583 port (default: the config's, else 9100)
  --control-port N     HTTP control API port (default: the config's)
  -h, --help           this text
exit codes: 0 stopped, 1 could not start, 2 usage`;

async function main(): Promise<void> {
  const { values } = parseCli({
    name: 'sim:acquirer',
    usage: USAGE,
    options: {
      config: { type: 'string', short: 'c' },
      port: { type: 'string' },
      'control-port': { type: 'string' },
    },
  });
  const cfg: SimulatorFileConfig = values.config ? loadSimulatorConfig(values.config) : {};
  const control = cfg.control === false ? false : { ...(cfg.control ?? {}), ...(values['control-port'] ? { port: Number(values['control-port']) } : {}) };
  const sim = await startAcquirerSimulator({
    ...(cfg.dialect ? { dialect: cfg.dialect } : {}),
    framer: cfg.framer ?? {},
    host: cfg.listen?.host ?? '127.0.0.1',
    port: values.port ? Number(values.port) : (cfg.listen?.port ?? 9100),
    control,
    ...(cfg.behaviour ? { behaviour: cfg.behaviour } : {}),
    ...(cfg.seed !== undefined ? { seed: cfg.seed } : {}),
  });
  process.stdout.write(
    `${JSON.stringify({ msg: 'acquirer simulator listening', host: sim.host, port: sim.port, dialect: sim.codec.name, framer: sim.framer.name, controlUrl: sim.controlUrl })}\n`,
  );
  const stop = (): void => {
    void sim.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((e: unknown) => {
  process.stderr.write(`${isSwitchError(e) ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
