/**
 * npm run sim:acquirer -- --config simulators/acquirer/example.yaml [--port N] [--control-port N]
 * Runs the acquirer simulator until SIGINT/SIGTERM.
 */
import { readFileSync } from 'node:fs';
import { parseCli } from '../../src/cli/args.js';
import { loadSimulatorConfig, type SimulatorFileConfig, type SimulatorFileTls } from './config.js';
import { startAcquirerSimulator, type SimulatorTlsOptions } from './simulator.js';
import { isSwitchError, SwitchError } from '../../src/errors.js';

const USAGE = `usage: npm run sim:acquirer -- [--config file.yaml] [--port N] [--control-port N]

Runs the acquirer simulator (docs/network.md) until Ctrl-C or SIGTERM.
options:
  -c, --config FILE    YAML config: listen, tls, dialect, framer, control, seed, behaviour
                       (example: simulators/acquirer/example.yaml; tls: cert, key, ca,
                       requestCert, minVersion, maxVersion, ciphers, PEM file paths)
  --port N             ISO 8583 port (default: the config's, else 9100)
  --control-port N     HTTP control API port (default: the config's)
  -h, --help           this text
exit codes: 0 stopped, 1 could not start, 2 usage`;

/** The config's `tls` block with its PEM files read; a file that cannot be read is named. */
function readTls(t: SimulatorFileTls): SimulatorTlsOptions {
  const read = (key: string, file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new SwitchError('SW_ERR_CONFIG_INVALID', {
        path: `config.tls.${key}`,
        reason: `${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
      });
    }
  };
  return {
    cert: read('cert', t.cert),
    key: read('key', t.key),
    ...(t.ca ? { ca: read('ca', t.ca) } : {}),
    ...(t.requestCert !== undefined ? { requestCert: t.requestCert } : {}),
    ...(t.minVersion ? { minVersion: t.minVersion } : {}),
    ...(t.maxVersion ? { maxVersion: t.maxVersion } : {}),
    ...(t.ciphers ? { ciphers: t.ciphers } : {}),
  };
}

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
    ...(cfg.tls ? { tls: readTls(cfg.tls) } : {}),
    ...(cfg.pin ? { pin: cfg.pin } : {}),
  });
  process.stdout.write(
    `${JSON.stringify({ msg: 'acquirer simulator listening', host: sim.host, port: sim.port, dialect: sim.codec.name, framer: sim.framer.name, controlUrl: sim.controlUrl, tls: !!cfg.tls })}\n`,
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
