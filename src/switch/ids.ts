import { randomBytes } from 'node:crypto';

const INSTANCE = randomBytes(3).toString('hex');
let seq = 0;

/** Unique, roughly time-ordered transaction id: base36 ms, a per-process counter and an instance tag. */
export function newTxnId(now = Date.now()): string {
  seq = (seq + 1) % 1_679_616; // 36^4
  return `${now.toString(36)}${seq.toString(36).padStart(4, '0')}${INSTANCE}`;
}

/** Retrieval reference numbers (DE37, an 12): YDDD + hh + a 6-digit counter, as ISO 8583 practice has it. */
export class RrnGenerator {
  private n = Math.floor(Math.random() * 1_000_000);
  next(now = new Date()): string {
    this.n = (this.n + 1) % 1_000_000;
    const start = Date.UTC(now.getUTCFullYear(), 0, 0);
    const day = Math.floor((now.getTime() - start) / 86_400_000);
    return `${now.getUTCFullYear() % 10}${String(day).padStart(3, '0')}${String(now.getUTCHours()).padStart(2, '0')}${String(this.n).padStart(6, '0')}`;
  }
}
