/**
 * A real Prometheus (Debian package `prometheus`) scrapes the switch's admin server while PSP load runs
 * through the real switch (built-in acquirer simulators); then every panel's PromQL in every dashboard in
 * grafana/dashboards is evaluated through Prometheus's HTTP API and must return data, every metric it names
 * must exist, and the alert rules (checked and unit-tested with promtool) load without evaluation errors.
 * Then a scenario drives each fault a panel exists to show (a frame that does not unpack, acquirers that stop
 * answering: timeouts, queued reversals, breakers opening, a dead letter), and every metric any panel uses must
 * have been non-zero in Prometheus at some point: a series pre-filled with zeros is not data.
 */
import t from 'tap';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../src/store/postgres.js';
import { buildAuthorization } from '../../simulators/psp/index.js';
import { startTestSwitch } from '../admin/harness.js';

const run = promisify(execFile);
const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const GRAFANA = path.join(ROOT, 'grafana');
const PROMETHEUS = process.env.PROMETHEUS_PATH ?? '/usr/bin/prometheus';
const PROMTOOL = process.env.PROMTOOL_PATH ?? '/usr/bin/promtool';

interface Panel {
  id: number;
  title: string;
  targets: { expr: string; refId: string }[];
}

function dashboards(): { file: string; title: string; panels: Panel[] }[] {
  const dir = path.join(GRAFANA, 'dashboards');
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const d = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as { title: string; panels: Panel[] };
      return { file: f, title: d.title, panels: d.panels };
    });
}

/** `body` with its Luhn check digit: a fresh card per request, so velocity rules do not decline the scenario. */
function luhnPan(body: string): string {
  let sum = 0;
  for (let i = 0; i < body.length; i++) {
    let d = Number(body[body.length - 1 - i]);
    if (i % 2 === 0) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return body + String((10 - (sum % 10)) % 10);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('promtool: alert rules and config are valid, alert unit tests pass', async (t) => {
  t.ok(fs.existsSync(PROMTOOL), `promtool at ${PROMTOOL} (Debian package prometheus)`);
  const rules = await run(PROMTOOL, ['check', 'rules', path.join(GRAFANA, 'alerts.yml')]);
  t.match(rules.stdout + rules.stderr, /SUCCESS: 6 rules found/);
  await run(PROMTOOL, ['check', 'config', path.join(GRAFANA, 'prometheus.yml')]);
  const unit = await run(PROMTOOL, ['test', 'rules', path.join(GRAFANA, 'alerts.test.yml')], { cwd: GRAFANA });
  t.match(unit.stdout + unit.stderr, /SUCCESS/);
});

t.test('dashboards: provisioning files and panels are well formed', async (t) => {
  const ds = fs.readFileSync(path.join(GRAFANA, 'provisioning', 'datasources', 'prometheus.yml'), 'utf8');
  t.match(ds, /uid: prometheus/);
  t.match(fs.readFileSync(path.join(GRAFANA, 'provisioning', 'dashboards', 'switch.yml'), 'utf8'), /type: file/);
  const all = dashboards();
  t.same(
    all.map((d) => d.file),
    ['acquirers.json', 'ledger-saf.json', 'overview.json', 'routing-risk.json'],
  );
  for (const d of all) {
    t.ok(d.panels.length >= 6, `${d.title} has panels`);
    for (const p of d.panels) {
      t.ok(p.targets.length >= 1, `${d.title} / ${p.title} has a query`);
      for (const q of p.targets) t.notMatch(q.expr, /\bpan\b|stan|rrn/i, 'no high-cardinality label in a query');
    }
  }
});

t.test('a real Prometheus scrapes the switch under load; every panel query returns data', async (t) => {
  t.ok(fs.existsSync(PROMETHEUS), `prometheus at ${PROMETHEUS}`);
  // a short SAF life so the scenario below makes a dead letter; a group-commit wait so batches visibly queue;
  // a 1 s acquirer timeout so acquirers that stop answering trip their breakers quickly
  const sw = await startTestSwitch(t, 'prometheus', undefined, {
    saf: { pollMs: 200, retryInitialMs: 200, retryMaxMs: 400, timeoutMs: 500, expireAfterMs: 2_000 },
    groupCommitMs: 5,
    acquirerTimeoutMs: 1_000,
  });
  const adminPort = sw.h.adminPort!;

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switch-prom-'));
  const port = await freePort();
  const config = [
    'global:',
    '  scrape_interval: 1s',
    '  evaluation_interval: 1s',
    'rule_files:',
    `  - ${path.join(GRAFANA, 'alerts.yml')}`,
    'scrape_configs:',
    '  - job_name: switch',
    '    metrics_path: /metrics',
    '    static_configs:',
    `      - targets: ['127.0.0.1:${adminPort}']`,
    '',
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), config);
  const prom = spawn(
    PROMETHEUS,
    [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let promLog = '';
  prom.stderr.on('data', (b: Buffer) => {
    promLog = (promLog + b.toString('utf8')).slice(-20_000);
  });
  const exited = new Promise<void>((r) => prom.once('exit', () => r()));
  t.teardown(async () => {
    if (prom.exitCode === null) {
      prom.kill('SIGTERM');
      const timer = setTimeout(() => prom.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const base = `http://127.0.0.1:${port}`;
  const api = async (p: string): Promise<any> => {
    const r = await fetch(`${base}${p}`);
    return r.json();
  };
  const until = async (what: string, f: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      try {
        if (await f()) return;
      } catch {
        // not up yet
      }
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; prometheus log tail: ${promLog.slice(-2000)}`);
      if (prom.exitCode !== null) throw new Error(`prometheus exited (${prom.exitCode}): ${promLog.slice(-2000)}`);
      await sleep(250);
    }
  };
  await until('prometheus ready', async () => (await fetch(`${base}/-/ready`)).ok);
  await until('the switch target up', async () => {
    const r = await api('/api/v1/query?query=up');
    return r.data.result.some((x: any) => x.value[1] === '1');
  });

  // load: authorizations through the real switch, 4 in flight, various cards and amounts
  const clients = await Promise.all([sw.client(), sw.client()]);
  const pans = ['4000056655665556', '4111111111111111', '5555555555554444', '4761739001010119', '5200828282828210'];
  let sent = 0;
  let stop = false;
  const answers = new Map<string, number>();
  const worker = async (w: number): Promise<void> => {
    let i = 0;
    while (!stop) {
      const n = sent++;
      const c = clients[w % clients.length]!;
      const msg = buildAuthorization({
        stan: String(100000 + n).slice(-6),
        pan: pans[n % pans.length]!,
        amount: `${1 + (n % 50)}.${String(n % 100).padStart(2, '0')}`,
        terminal: `TERM000${w}`,
      });
      const r = await c.send(msg).catch(() => null);
      const rc = r?.getString(39) ?? 'none';
      answers.set(rc, (answers.get(rc) ?? 0) + 1);
      i++;
      if (i % 20 === 0) await sleep(5);
    }
  };
  const load = Promise.all([0, 1, 2, 3].map(worker));
  t.teardown(async () => {
    stop = true;
    await load;
  });
  const started = Date.now();
  await until(
    'load and scrapes',
    async () => {
      if (sent < 300 || Date.now() - started < 8000) return false;
      const r = await api('/api/v1/query?query=' + encodeURIComponent('sum(increase(switch_requests_total[1m]))'));
      return Number(r.data.result[0]?.value[1] ?? 0) > 50;
    },
    120_000,
  );
  t.ok((answers.get('00') ?? 0) > 100, `approvals through the switch (${JSON.stringify(Object.fromEntries(answers))})`);

  const names = new Set<string>((await api('/api/v1/label/__name__/values')).data as string[]);
  let checked = 0;
  for (const d of dashboards()) {
    for (const p of d.panels) {
      for (const q of p.targets) {
        const label = `${d.title} / ${p.title} / ${q.refId}`;
        for (const m of q.expr.matchAll(/\b((?:switch|process|nodejs)_[a-z0-9_]+)/g)) {
          const metric = m[1]!;
          t.ok(names.has(metric), `${label}: metric ${metric} exists in Prometheus`);
        }
        let r: any;
        await until(
          `${label} returns data`,
          async () => {
            r = await api('/api/v1/query?query=' + encodeURIComponent(q.expr));
            return r.status === 'success' && r.data.result.some((x: any) => Number.isFinite(Number(x.value[1])));
          },
          30_000,
        ).catch(() => undefined);
        t.equal(r?.status, 'success', `${label}: query is valid`);
        t.ok(
          r?.data?.result?.some((x: any) => Number.isFinite(Number(x.value[1]))),
          `${label}: returns data`,
        );
        checked++;
      }
    }
  }
  t.ok(checked >= 30, `${checked} panel queries checked`);

  // spot checks: the values mean what they say
  const q1 = async (e: string): Promise<any[]> => (await api('/api/v1/query?query=' + encodeURIComponent(e))).data.result;
  t.same((await q1('switch_link_up')).map((x) => x.metric.acquirer).sort(), ['acq-a', 'acq-b', 'acq-c']);
  t.ok(
    (await q1('switch_link_up')).every((x) => x.value[1] === '1'),
    'every link up',
  );
  t.ok(Number((await q1('sum(switch_group_commit_requests_total)'))[0].value[1]) > 0, 'group commit counted');
  t.ok(Number((await q1('sum(switch_ledger_operations_total{op="hold",result="ok"})'))[0].value[1]) > 0, 'ledger holds counted');
  t.equal((await q1('switch_rules_version'))[0].value[1], '1');

  // the alert rules load and evaluate without errors; nothing fires on a healthy switch
  const rules = await api('/api/v1/rules');
  const all = rules.data.groups.flatMap((g: any) => g.rules);
  t.same(all.map((r: any) => r.name).sort(), ['AcquirerDead', 'AcquirerFailing', 'ApprovalRateDrop', 'CutoverTotalsOutOfBalance', 'DeadLetters', 'SafBacklog']);
  await until('rules evaluated', async () =>
    (await api('/api/v1/rules')).data.groups.flatMap((g: any) => g.rules).every((r: any) => r.lastEvaluation && !r.lastEvaluation.startsWith('0001')),
  );
  for (const r of (await api('/api/v1/rules')).data.groups.flatMap((g: any) => g.rules)) {
    t.equal(r.health, 'ok', `${r.name} evaluates without error${r.lastError ? `: ${r.lastError}` : ''}`);
    t.not(r.state, 'firing', `${r.name} does not fire on a healthy switch`);
  }
  stop = true;
  await load;

  // ── the scenario: what each panel exists to show ──────────────────────────────────────────────────────
  // a PSP frame whose bitmap does not unpack (answered or dropped, counted as an unpack error)
  const bad = Buffer.from('0100ZZZZZZZZZZZZZZZZ', 'latin1');
  const raw = net.connect(sw.h.pspPort, '127.0.0.1');
  await new Promise<void>((r) => raw.once('connect', () => r()));
  const header = Buffer.alloc(2);
  header.writeUInt16BE(bad.length);
  raw.write(Buffer.concat([header, bad]));
  // acquirers that stop answering: timeouts, reversals queued and repeated until they expire (a dead letter),
  // enough failures in the breakers' window that they open
  for (const sim of sw.sims.values()) sim.setBehaviour({ faults: { neverAnswer: 1 } });
  let wave = 0;
  let last = '';
  await until(
    'breakers open, reversals queued, a dead letter',
    async () => {
      const codes = await Promise.all(
        Array.from({ length: 30 }, (_, i) => {
          const n = 500_000 + wave * 100 + i;
          return clients[i % clients.length]!.send(
            buildAuthorization({ stan: String(n).slice(-6), pan: luhnPan(`4761739${String(n).padStart(8, '0')}`), amount: '7.00', terminal: 'TERM0009' }),
          ).then(
            (m) => m.getString(39) ?? 'none',
            (e: Error) => e.message.slice(0, 60),
          );
        }),
      );
      wave++;
      const open = await q1('max(max_over_time(switch_breaker_state[5m]))');
      const depth = await q1('max(max_over_time(switch_saf_depth[5m]))');
      const dead = await q1('max(max_over_time(switch_dead_letters[5m]))');
      last = `breaker state max ${open[0]?.value[1]}, SAF depth max ${depth[0]?.value[1]}, dead letters max ${dead[0]?.value[1]} after ${wave} waves, last answers ${[...new Set(codes)].join(' ')}`;
      return Number(open[0]?.value[1] ?? 0) === 2 && Number(depth[0]?.value[1] ?? 0) > 0 && Number(dead[0]?.value[1] ?? 0) > 0;
    },
    120_000,
  ).catch((e: Error) => {
    throw new Error(`${last}: ${e.message.slice(0, 200)}`);
  });
  raw.destroy();

  // every metric any panel uses has been non-zero (histograms: their _count); pre-filled zeros do not count
  const moved: string[] = [];
  const still: string[] = [];
  const panelMetrics = new Set<string>();
  for (const d of dashboards())
    for (const p of d.panels)
      for (const q of p.targets)
        for (const m of q.expr.matchAll(/\b((?:switch|process|nodejs)_[a-z0-9_]+)/g)) panelMetrics.add(m[1]!.replace(/_(bucket|sum|count)$/, ''));
  for (const metric of [...panelMetrics].sort()) {
    const series = names.has(metric) ? metric : `${metric}_count`;
    const r = await q1(`max(max_over_time(${series}[10m]))`);
    (Number(r[0]?.value[1] ?? 0) > 0 ? moved : still).push(metric);
  }
  t.same(still, [], `every panel metric moved under the scenario (${moved.length} did: ${moved.join(', ')})`);
  t.ok(moved.length >= 25, `${moved.length} panel metrics checked`);
  t.ok(Number((await q1('sum(switch_breaker_transitions_total{state="open"})'))[0]?.value[1] ?? 0) >= 1, 'breaker transitions to open counted');
  t.ok(Number((await q1('sum(switch_saf_events_total{event="dead_lettered"})'))[0]?.value[1] ?? 0) >= 1, 'a dead letter counted as an event');
  for (const sim of sw.sims.values()) sim.setBehaviour({ faults: { neverAnswer: 0 } });
});
