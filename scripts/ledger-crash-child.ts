/**
 * Child process for the ledger crash test (test/ledger/crash.test.ts): places group-committed payment holds
 * and commits from many concurrent callers against DATABASE_URL and prints one line per acknowledged
 * operation (`ack hold <id>` / `ack commit <id>`) only after the ledger answered, i.e. after COMMIT.
 * It runs until killed.
 */
import { createPool } from '../src/store/postgres.js';
import { createLedger } from '../src/ledger/ledger.js';

const url = process.env.DATABASE_URL;
if (!url) throw new Error('DATABASE_URL is required');
const prefix = process.argv[2] ?? 'crash';
const pool = createPool(url, { max: 4, applicationName: process.env.LEDGER_CHILD_APP ?? 'ledger-crash-child' });
const ledger = await createLedger({ pool, migrate: false, maxWaitMs: 2 });
process.stdout.write('ready\n');
let n = 0;
const worker = async (w: number) => {
  for (;;) {
    const id = `${prefix}-${w}-${n++}`;
    await ledger.hold(id, { acquirer: 'acq-a', terminal: 'T1', merchant: `m${w % 5}`, currency: 978, amount: BigInt(100 + (n % 900)) });
    process.stdout.write(`ack hold ${id}\n`);
    if (n % 2 === 0) {
      await ledger.commit(id);
      process.stdout.write(`ack commit ${id}\n`);
    }
  }
};
await Promise.all(Array.from({ length: 32 }, (_, w) => worker(w)));
