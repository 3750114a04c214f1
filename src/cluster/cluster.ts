/**
 * `npm run cluster -- --instances N` (docs/deploy.md, "npm run cluster"): N switch processes on one machine
 * behind HAProxy, sharing one PostgreSQL and one Redis, the layout docs/deploy.md gives for real machines.
 *
 * - PostgreSQL: DATABASE_URL, else the embedded one of `npm start` (the same data/ folder), started here once.
 * - Redis: REDIS_URL, else the server on 127.0.0.1:6379, else a `redis-server` started here on a free port.
 * - One PAN hash key and one admin token for every instance (an instance with its own would hash cards
 *   differently and refuse the others' console sessions).
 * - The built-in acquirer simulators of acquirers with port 0 run once, here, shared by every instance
 *   (SWITCH_SHARED_SIMULATORS), so one acquirer sees the cluster's traffic, as a bank would.
 * - The first instance starts alone (it migrates the schema and imports the rules on a new database), then
 *   the others together; HAProxy starts last, in front of them.
 *
 * Nothing here imports simulators/: the entry point (bin/cluster.ts) hands in how to start one.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, writeFileSync, type WriteStream } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { AcquirerDef } from '../routing/types.js';
import type { StartBuiltInSimulator, BuiltInSimulator } from '../switch/acquirers.js';
import { loadConfig, type SwitchConfig } from '../switch/config.js';
import { loadRuleSet } from '../routing/rules-loader.js';
import { resolveDatabaseUrl, redactUrl } from '../store/postgres.js';
import { freePort } from '../store/embedded-pg.js';
import { resolvePanHashKey } from '../switch/pan-key.js';
import { newRunToken, runTokenFile, writeRunTokenFile } from '../admin/run-token.js';
import { haproxyConfig } from './haproxy.js';

export interface ClusterOptions {
  instances: number;
  /** HAProxy's PSP port (0: a free one). */
  pspPort: number;
  /** HAProxy's admin port (0: a free one). */
  adminPort: number;
  /** The checkout the instances run from (bin/switch.ts). */
  root: string;
  /** Environment of the cluster; the instances get it plus what the cluster sets. */
  env?: NodeJS.ProcessEnv;
  /** Folder of the instances' logs and the HAProxy config (default <root>/data/cluster). */
  workDir?: string;
  /** Progress lines. */
  say?: (line: string) => void;
  startSimulator?: StartBuiltInSimulator;
  /** Extra environment of every instance (tests: timings). */
  instanceEnv?: Record<string, string>;
}

export interface ClusterInstance {
  readonly name: string;
  readonly pspPort: number;
  readonly adminPort: number;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves with how the process ended. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly alive: boolean;
}

export interface ClusterHandle {
  pspPort: number;
  adminPort: number;
  databaseUrl: string;
  databaseSource: 'env' | 'embedded';
  redisUrl: string;
  redisSource: 'env' | 'local' | 'started';
  adminToken: string | null;
  adminTokenFile: string | null;
  haproxyConfigFile: string;
  haproxyPid: number;
  simulators: { id: string; port: number; controlUrl: string | null }[];
  instances: ClusterInstance[];
  /** kill -9 of one instance; resolves once it is gone. */
  kill9(name: string): Promise<void>;
  /** HAProxy, the instances (SIGTERM, then SIGKILL after 30 s), simulators, Redis and PostgreSQL if started here. */
  stop(): Promise<void>;
}

/** A cluster that could not be started: the message names the part and the fix. */
export class ClusterStartError extends Error {
  override readonly name = 'ClusterStartError';
}

class Instance implements ClusterInstance {
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  alive = true;
  private out = '';
  constructor(
    readonly name: string,
    readonly pspPort: number,
    readonly adminPort: number,
    readonly logFile: string,
    private readonly proc: ChildProcess,
    log: WriteStream,
  ) {
    const keep = (c: Buffer) => {
      log.write(c);
      if (this.out.length < 64_000) this.out += c.toString('utf8');
    };
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    this.exited = new Promise((resolve) =>
      proc.once('exit', (code, signal) => {
        this.alive = false;
        log.end();
        resolve({ code, signal });
      }),
    );
  }
  get pid(): number {
    return this.proc.pid ?? 0;
  }
  /** Until the switch printed that it is up; rejects with its own last lines if it ends first. */
  async ready(timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!/Ctrl-C stops it/.test(this.out)) {
      if (!this.alive) throw new ClusterStartError(`instance ${this.name} did not start: ${this.lastLines()} (log: ${this.logFile})`);
      if (Date.now() > end) throw new ClusterStartError(`instance ${this.name} not up after ${timeoutMs} ms (log: ${this.logFile})`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  lastLines(): string {
    return this.out.trim().split('\n').slice(-3).join(' | ');
  }
  signal(s: NodeJS.Signals): void {
    if (this.alive) this.proc.kill(s);
  }
}

/** True when a Redis server answers PING at host:port within 1 s. */
export function redisAnswers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.once('error', () => done(false));
    s.once('connect', () => s.write('PING\r\n'));
    s.once('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

async function untilRedis(port: number, proc: ChildProcess): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (proc.exitCode !== null) break;
    if (await redisAnswers('127.0.0.1', port)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new ClusterStartError(`redis-server did not answer on 127.0.0.1:${port}: set REDIS_URL to a Redis server`);
}

/** `haproxy` on PATH or in /usr/sbin (Debian), or a start error saying how to install it. */
function haproxyBinary(): string {
  for (const bin of ['haproxy', '/usr/sbin/haproxy', '/usr/local/sbin/haproxy']) {
    const r = spawnSync(bin, ['-v'], { stdio: 'ignore' });
    if (!r.error && r.status === 0) return bin;
  }
  throw new ClusterStartError('haproxy is not installed: apt-get install haproxy (Debian), then run again');
}

const stopProcess = async (p: ChildProcess, graceMs: number): Promise<void> => {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const gone = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  const timer = setTimeout(() => p.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(timer);
};

export async function startCluster(o: ClusterOptions): Promise<ClusterHandle> {
  if (!Number.isInteger(o.instances) || o.instances < 1 || o.instances > 16)
    throw new ClusterStartError(`--instances must be a whole number from 1 to 16, not ${o.instances}`);
  const env = o.env ?? process.env;
  const say = o.say ?? (() => undefined);
  const workDir = o.workDir ?? path.join(o.root, 'data', 'cluster');
  mkdirSync(workDir, { recursive: true });
  const cfg: SwitchConfig = loadConfig({ env });
  const undo: Array<() => Promise<unknown>> = [];
  const stopAll = async () => {
    for (const f of undo.splice(0).reverse()) await f().catch(() => undefined);
  };
  try {
    const haproxy = haproxyBinary();

    // PostgreSQL, shared
    const db = await resolveDatabaseUrl({
      env: cfg.database.url ? { DATABASE_URL: cfg.database.url } : {},
      dataDir: path.resolve(o.root, cfg.database.dataDir),
    });
    undo.push(() => db.stop());
    say(`database ${db.source === 'embedded' ? 'embedded PostgreSQL' : redactUrl(db.url)}`);

    // Redis, shared
    let redisUrl = cfg.redis.url;
    let redisSource: ClusterHandle['redisSource'] = 'env';
    if (!redisUrl) {
      if (await redisAnswers('127.0.0.1', 6379)) {
        redisUrl = 'redis://127.0.0.1:6379';
        redisSource = 'local';
      } else {
        const port = await freePort();
        const proc = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
        const spawned = new Promise<void>((resolve, reject) => {
          proc.once('spawn', resolve);
          proc.once('error', () => reject(new ClusterStartError('no Redis: set REDIS_URL, or install redis-server (apt-get install redis-server)')));
        });
        await spawned;
        undo.push(() => stopProcess(proc, 5000));
        await untilRedis(port, proc);
        redisUrl = `redis://127.0.0.1:${port}`;
        redisSource = 'started';
      }
    }

    // One PAN hash key and one admin token for all
    const shared: Record<string, string> = { DATABASE_URL: db.url, REDIS_URL: redisUrl };
    const hasKeys = cfg.panHashKey || cfg.panHashKeys.length > 0 || cfg.panHashKeysFile;
    if (!hasKeys && db.source === 'embedded') {
      shared.PAN_HASH_KEY = await resolvePanHashKey(
        { ...cfg, database: { ...cfg.database, dataDir: path.resolve(o.root, cfg.database.dataDir) } },
        { info: () => undefined },
      );
    }
    let adminToken: string | null = null;
    let adminTokenFile: string | null = null;
    if (cfg.admin.enabled && cfg.admin.tokens.length === 0) {
      const { token, entry } = newRunToken();
      adminToken = token;
      adminTokenFile = runTokenFile(path.resolve(o.root, cfg.database.dataDir));
      await writeRunTokenFile(adminTokenFile, token);
      shared.ADMIN_TOKENS = `${entry.name}:${entry.role}:${entry.sha256}`;
    }

    // The simulators of acquirers with port 0, shared
    const simulators: ClusterHandle['simulators'] = [];
    if (o.startSimulator) {
      const defs: AcquirerDef[] = loadRuleSet(path.resolve(o.root, cfg.rulesDir)).files.acquirers.acquirers;
      const started: Record<string, { port: number; controlUrl: string | null }> = {};
      for (const def of defs.filter((d) => !d.link.port)) {
        const sim: BuiltInSimulator = await o.startSimulator(def);
        undo.push(() => sim.close());
        started[def.id] = { port: sim.port, controlUrl: sim.controlUrl };
        simulators.push({ id: def.id, port: sim.port, controlUrl: sim.controlUrl });
      }
      shared.SWITCH_SHARED_SIMULATORS = JSON.stringify(started);
    }

    // The instances: the first alone (schema, first rules import), then the rest together
    const instances: Instance[] = [];
    const spawnInstance = async (i: number): Promise<Instance> => {
      const name = `s${i + 1}`;
      const pspPort = await freePort();
      const adminPort = await freePort();
      const logFile = path.join(workDir, `${name}.log`);
      const log = createWriteStream(logFile, { flags: 'w', mode: 0o600 });
      const proc = spawn(process.execPath, ['--max-semi-space-size=64', '--import', 'tsx', path.join(o.root, 'bin', 'switch.ts')], {
        cwd: o.root,
        env: { ...env, ...shared, ...o.instanceEnv, PSP_PORT: String(pspPort), ADMIN_PORT: String(adminPort) },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const inst = new Instance(name, pspPort, adminPort, logFile, proc, log);
      undo.push(async () => {
        inst.signal('SIGTERM');
        const timer = setTimeout(() => inst.signal('SIGKILL'), 30_000);
        await inst.exited;
        clearTimeout(timer);
      });
      instances.push(inst);
      return inst;
    };
    await (await spawnInstance(0)).ready(120_000);
    const rest = await Promise.all(Array.from({ length: o.instances - 1 }, (_, k) => spawnInstance(k + 1)));
    await Promise.all(rest.map((r) => r.ready(120_000)));
    instances.sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
    say(`${instances.length} instance(s) up`);

    // HAProxy in front
    const pspPort = o.pspPort || (await freePort());
    const adminPort = o.adminPort || (await freePort());
    const haproxyConfigFile = path.join(workDir, 'haproxy.cfg');
    writeFileSync(
      haproxyConfigFile,
      haproxyConfig({
        pspBind: `${cfg.psp.host}:${pspPort}`,
        adminBind: `${cfg.admin.host}:${adminPort}`,
        instances: instances.map((i) => ({ name: i.name, host: '127.0.0.1', pspPort: i.pspPort, adminPort: i.adminPort })),
      }),
    );
    const checked = spawnSync(haproxy, ['-c', '-q', '-f', haproxyConfigFile], { encoding: 'utf8' });
    if (checked.status !== 0)
      throw new ClusterStartError(`haproxy refuses ${haproxyConfigFile}: ${(checked.stderr || checked.stdout).trim().split('\n').slice(-2).join(' | ')}`);
    const hp = spawn(haproxy, ['-db', '-f', haproxyConfigFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    let hpErr = '';
    hp.stderr!.setEncoding('utf8').on('data', (c: string) => (hpErr = (hpErr + c).slice(-4000)));
    undo.push(() => stopProcess(hp, 5000));
    await untilListening(pspPort, hp, () => hpErr);

    return {
      pspPort,
      adminPort,
      databaseUrl: db.url,
      databaseSource: db.source === 'embedded' ? 'embedded' : 'env',
      redisUrl,
      redisSource,
      adminToken,
      adminTokenFile,
      haproxyConfigFile,
      haproxyPid: hp.pid ?? 0,
      simulators,
      instances,
      async kill9(name) {
        const inst = instances.find((i) => i.name === name);
        if (!inst) throw new Error(`no instance ${name}`);
        inst.signal('SIGKILL');
        await inst.exited;
      },
      stop: stopAll,
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

async function untilListening(port: number, proc: ChildProcess, err: () => string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (proc.exitCode !== null) throw new ClusterStartError(`haproxy stopped: ${err().trim().split('\n').slice(-2).join(' | ')}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new ClusterStartError(`haproxy is not listening on ${port}: ${err().trim()}`);
}
