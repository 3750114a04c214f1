/**
 * CPU time of the parts of a benchmark, from /proc (Linux): every PostgreSQL server process, this process's
 * main thread (the switch, when the load runs in a worker thread), and this whole process.
 */
import { readdirSync, readFileSync } from 'node:fs';

const TICK_MS = 10; // USER_HZ is 100 on Linux

function ticks(statLine: string): number {
  // fields after the command name (which may hold spaces) start at ") "
  const rest = statLine.slice(statLine.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]); // utime + stime
}

/** Milliseconds of CPU used so far by every process whose command is `postgres`. */
export function postgresCpuMs(): number {
  let total = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.includes('(postgres)')) total += ticks(stat);
    } catch {
      // gone meanwhile
    }
  }
  return total * TICK_MS;
}

/** Milliseconds of CPU used so far by this process's main thread. */
export function mainThreadCpuMs(): number {
  return ticks(readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8')) * TICK_MS;
}

/** Milliseconds of CPU used so far by this whole process (all threads). */
export function processCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

export interface CpuSample {
  postgres: number;
  main: number;
  process: number;
}

export const cpuNow = (): CpuSample => ({ postgres: postgresCpuMs(), main: mainThreadCpuMs(), process: processCpuMs() });

/** µs of CPU per operation between two samples. */
export function cpuPerOp(a: CpuSample, b: CpuSample, ops: number): { postgresUs: number; switchUs: number; loadUs: number } {
  const per = (ms: number) => Math.round(((ms * 1000) / Math.max(1, ops)) * 10) / 10;
  return { postgresUs: per(b.postgres - a.postgres), switchUs: per(b.main - a.main), loadUs: per(b.process - a.process - (b.main - a.main)) };
}

/** Milliseconds of CPU used so far by the given processes (e.g. PostgreSQL backends, by pid). */
export function pidsCpuMs(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      total += ticks(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      // gone meanwhile
    }
  }
  return total * TICK_MS;
}
