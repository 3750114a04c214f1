/**
 * `npm run cluster -- --instances N`: N switch instances behind HAProxy on this machine, sharing PostgreSQL
 * and Redis (src/cluster/cluster.ts; docs/deploy.md). Like bin/switch.ts, the one place the cluster and the
 * stand-in acquirers are put together.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCli } from '../src/cli/args.js';
import { startCluster } from '../src/cluster/cluster.js';
import { loadConfig } from '../src/switch/config.js';
import { redactUrl } from '../src/store/postgres.js';
import { shownToken } from '../src/admin/run-token.js';
import { startBuiltInSimulator } from '../simulators/acquirer/builtin.js';

const USAGE = `usage: npm run cluster -- [--instances N] [--psp-port N] [--admin-port N]

Starts N switch instances behind HAProxy, sharing one PostgreSQL (DATABASE_URL, else the embedded one of
npm start) and one Redis (REDIS_URL, else 127.0.0.1:6379, else a redis-server started for the run), with the
built-in acquirer simulators run once for all (docs/deploy.md). Prints the endpoints; Ctrl-C stops everything.

options:
  --instances N    switch instances (default 3, at most 16)
  --psp-port N     HAProxy's PSP port (default: psp.port of the config, 8583)
  --admin-port N   HAProxy's admin and console port (default: admin.port of the config, 8080)
  -h, --help       this text
exit codes: 0 stopped (Ctrl-C, SIGTERM), 1 could not start, 2 usage`;

const { values } = parseCli({
  name: 'cluster',
  usage: USAGE,
  options: { instances: { type: 'string' }, 'psp-port': { type: 'string' }, 'admin-port': { type: 'string' } },
});
const whole = (v: string | undefined, dflt: number, what: string): number => {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    process.stderr.write(`cluster: ${what} must be a whole number, not "${v}"\n${USAGE}\n`);
    process.exit(2);
  }
  return n;
};
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cfg = loadConfig();

try {
  const c = await startCluster({
    instances: whole(values.instances, 3, '--instances'),
    pspPort: whole(values['psp-port'], cfg.psp.port, '--psp-port'),
    adminPort: whole(values['admin-port'], cfg.admin.port, '--admin-port'),
    root,
    startSimulator: startBuiltInSimulator,
    say: (l) => process.stdout.write(`[cluster] ${l}\n`),
  });
  const lines = [
    `Switch cluster is up: ${c.instances.length} instance(s) behind HAProxy.`,
    `  PSPs connect to      ${cfg.psp.host}:${c.pspPort}  (HAProxy, least connections; config ${c.haproxyConfigFile})`,
    `  admin and console    http://${cfg.admin.host}:${c.adminPort}/console/  (HAProxy, any instance)`,
    ...(c.adminToken
      ? [`  admin token          ${shownToken(c.adminToken, process.stdout.isTTY === true)}  (operator, this run, in ${c.adminTokenFile}, mode 0600)`]
      : []),
    ...c.instances.map(
      (i) =>
        `  instance ${i.name.padEnd(11)} pid ${i.pid}, PSP 127.0.0.1:${i.pspPort}, admin and metrics http://127.0.0.1:${i.adminPort}/metrics, log ${i.logFile}`,
    ),
    `  database             ${c.databaseSource === 'embedded' ? 'embedded PostgreSQL' : redactUrl(c.databaseUrl)}`,
    `  redis                ${c.redisUrl}${c.redisSource === 'started' ? ' (started for this run)' : ''}`,
    ...c.simulators.map((s) => `  acquirer ${s.id.padEnd(11)} built-in simulator 127.0.0.1:${s.port}, shared`),
    `  try: npm run load -- --port ${c.pspPort} --rate 200 --duration 10`,
    `Ctrl-C stops it.`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
  for (const i of c.instances) {
    void i.exited.then(({ code, signal }) => {
      if (!stopping) process.stdout.write(`[cluster] instance ${i.name} ended (${signal ?? `exit ${code}`}); the others go on serving (log ${i.logFile})\n`);
    });
  }
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('[cluster] stopping\n');
    c.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  process.once('SIGHUP', stop);
} catch (e) {
  process.stderr.write(`cluster: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
}
