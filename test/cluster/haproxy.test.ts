/**
 * The HAProxy configuration of the cluster (src/cluster/haproxy.ts), checked by HAProxy itself (`haproxy -c`):
 * what `npm run cluster` writes and what docs/deploy.md shows must be a configuration HAProxy accepts.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { haproxyConfig } from '../../src/cluster/haproxy.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'haproxy-cfg-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const check = (text: string): { status: number | null; out: string } => {
  const file = path.join(dir, `c${++files}.cfg`);
  writeFileSync(file, text);
  const r = spawnSync('haproxy', ['-c', '-f', file], { encoding: 'utf8', env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin` } });
  if (r.error) throw r.error;
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
};
const three = [1, 2, 3].map((i) => ({ name: `s${i}`, host: '127.0.0.1', pspPort: 18580 + i, adminPort: 18080 + i }));

t.test('three instances: HAProxy accepts it, each checked by its readiness endpoint', async (t) => {
  const cfg = haproxyConfig({ pspBind: '127.0.0.1:8583', adminBind: '127.0.0.1:8080', instances: three });
  const r = check(cfg);
  t.equal(r.status, 0, `haproxy -c: ${r.out.trim()}`);
  for (const i of three) {
    t.match(cfg, `server ${i.name} 127.0.0.1:${i.pspPort} check port ${i.adminPort}`, `${i.name}: PSP port, checked on its admin port`);
    t.match(cfg, `server ${i.name} 127.0.0.1:${i.adminPort} check`);
  }
  t.match(cfg, /balance leastconn/);
  t.match(cfg, /http-check send meth GET uri \/health\/ready/);
  t.match(cfg, /on-marked-down shutdown-sessions/, 'PSP sessions of an instance taken out are cut, so clients reconnect');
});

t.test('without the admin frontend, and a config HAProxy refuses is told apart', async (t) => {
  const cfg = haproxyConfig({ pspBind: '127.0.0.1:8583', adminBind: null, instances: three.slice(0, 1) });
  t.notMatch(cfg, /frontend admin/);
  t.equal(check(cfg).status, 0);
  const broken = check(cfg.replace('balance leastconn', 'balance nosuchalgorithm'));
  t.not(broken.status, 0, 'haproxy -c fails on a bad configuration (the check can fail)');
});
