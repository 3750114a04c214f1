/**
 * `npm run reset`: deletes what `npm start` created for the embedded quick start (README.md, "Start again"):
 * the embedded PostgreSQL cluster (data/pg, and as root its folder under /var/lib/iso8583-switch), its password
 * file and the generated PAN hash key. Nothing else in data/ is touched; a database at DATABASE_URL never is.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { loadConfig } from '../switch/config.js';
import { panHashKeyFile } from '../switch/pan-key.js';
import { runTokenFile } from '../admin/run-token.js';
import { embeddedLayout, removeEmbeddedCluster, runningServerPid } from '../store/embedded-pg.js';
import { exitWith, parseCli } from './args.js';

const USAGE = `usage: npm run reset [-- --dry-run] [--config file.json]

Deletes the embedded PostgreSQL cluster of npm start (its data: transactions, ledger, rule versions), its
password file and the generated PAN hash key, so the next npm start begins afresh. Refused while the switch
runs. A database at DATABASE_URL is never touched.

options:
  --dry-run       list what would be deleted, delete nothing
  --config FILE   the switch's JSON config (also SWITCH_CONFIG), for database.dataDir
  -h, --help      this text
exit codes: 0 done, 1 the embedded server is running, 2 usage
`;

async function main(): Promise<number> {
  const { values } = parseCli({ name: 'reset', usage: USAGE, options: { 'dry-run': { type: 'boolean', default: false }, config: { type: 'string' } } });
  const cfg = loadConfig(values.config ? { file: values.config } : {});
  const layout = embeddedLayout(cfg.database.dataDir);
  const pid = runningServerPid(layout);
  if (pid !== null) {
    process.stderr.write(`reset: the embedded PostgreSQL in ${layout.pgData} is running (pid ${pid}): stop the switch first (Ctrl-C)\n`);
    return 1;
  }
  const keyFile = panHashKeyFile(cfg);
  // the quick start's admin token of its last run (src/admin/run-token.ts) goes with the data it opened
  const tokenFile = runTokenFile(cfg.database.dataDir);
  const targets = [layout.pgData, ...(layout.home ? [layout.home] : []), layout.dataDir, layout.secretFile, keyFile, tokenFile];
  const present: string[] = [];
  for (const p of [...new Set(targets)])
    if (
      await fs.lstat(p).then(
        () => true,
        () => false,
      )
    )
      present.push(p);
  if (values['dry-run']) {
    process.stdout.write(present.length ? `would delete:\n${present.map((p) => `  ${p}\n`).join('')}` : 'nothing to delete\n');
    return 0;
  }
  const removed = await removeEmbeddedCluster(layout);
  for (const file of [keyFile, tokenFile])
    if (
      await fs.rm(file).then(
        () => true,
        () => false,
      )
    )
      removed.push(file);
  // data/ itself when nothing else is left in it
  await fs.rmdir(path.dirname(layout.dataDir)).catch(() => undefined);
  process.stdout.write(removed.length ? `deleted:\n${removed.map((p) => `  ${p}\n`).join('')}` : 'nothing to delete\n');
  if (cfg.database.url) process.stdout.write('DATABASE_URL (database.url) is set: that database was not touched\n');
  return 0;
}

exitWith(main(), 'reset failed', 1);
