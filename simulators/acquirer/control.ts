import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { isSwitchError } from '../../src/errors.js';
import type { AcquirerSimulator } from './simulator.js';
import type { JournalFilter } from './journal.js';
import type { Behaviour } from './config.js';
import type { SettlementBreaks } from './settlement.js';

export interface ControlServer {
  url: string;
  close(): Promise<void>;
}

/**
 * The simulator's HTTP control API:
 *   GET    /behaviour              current behaviour
 *   PATCH  /behaviour              merge a partial behaviour (faults key by key); 400 on unknown keys
 *   GET    /journal?direction=&mti=&stan=&terminal=&rrn=&responseCode=   { count, entries }
 *   DELETE /journal                clear it
 *   POST   /connections/reset      reset every connection → { reset: n }
 *   POST   /outage                 { durationMs, mode: "down" | "silent" }
 *   GET    /stats                  counters and open connections
 *   PATCH  /mac                    { badMac?, wrongKcv? }: answers with a wrong MAC; keys sent with a wrong check value
 *   POST   /settlement             { day, breaks?, seed? }: the settlement file of that business day (text/csv)
 *   POST   /key-exchange           { wrongKcv?, code?: "161" | "162" }: sends 0800 with a new MAC key → { responseCode, kcv, switched }
 */
export async function startControlServer(sim: AcquirerSimulator, host: string, port: number): Promise<ControlServer> {
  const server = http.createServer((req, res) => {
    const send = (status: number, body: unknown): void => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > 1024 * 1024) req.destroy();
      else chunks.push(c);
    });
    req.on('end', () => {
      try {
        const url = new URL(req.url ?? '/', 'http://control');
        const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown) : undefined;
        const route = `${req.method ?? 'GET'} ${url.pathname}`;
        switch (route) {
          case 'GET /behaviour':
            return send(200, sim.behaviour());
          case 'PUT /behaviour':
          case 'PATCH /behaviour':
            return send(200, sim.setBehaviour((body ?? {}) as Partial<Behaviour>));
          case 'GET /journal': {
            const f: JournalFilter = {};
            const q = url.searchParams;
            const d = q.get('direction');
            if (d === 'in' || d === 'out') f.direction = d;
            const mtis = q.getAll('mti');
            if (mtis.length) f.mti = mtis.flatMap((m) => m.split(','));
            for (const k of ['stan', 'terminal', 'rrn', 'connectionId', 'responseCode'] as const) {
              const v = q.get(k);
              if (v !== null) f[k] = v;
            }
            const entries = sim.journal.find(f);
            const limit = Number(q.get('limit') ?? 1000);
            return send(200, { count: entries.length, entries: entries.slice(-limit) });
          }
          case 'DELETE /journal':
            sim.journal.clear();
            return send(200, { cleared: true });
          case 'POST /connections/reset':
            return send(200, { reset: sim.resetConnections() });
          case 'POST /outage': {
            const b = (body ?? {}) as { durationMs?: unknown; mode?: unknown };
            if (typeof b.durationMs !== 'number' || b.durationMs < 0 || (b.mode !== 'down' && b.mode !== 'silent')) {
              return send(400, { code: 'SW_ERR_CONFIG_INVALID', message: 'outage needs durationMs ≥ 0 and mode "down" or "silent"' });
            }
            sim.startOutage(b.durationMs, b.mode);
            return send(200, { outage: b });
          }
          case 'GET /stats':
            return send(200, { ...sim.stats, connections: sim.connectionCount(), macKcv: sim.macKcv() });
          case 'PATCH /mac': {
            const b = (body ?? {}) as Record<string, unknown>;
            const bad = Object.entries(b).filter(([k, v]) => !['badMac', 'wrongKcv'].includes(k) || typeof v !== 'boolean');
            if (bad.length > 0) return send(400, { code: 'SW_ERR_CONFIG_INVALID', message: 'mac takes badMac and wrongKcv, booleans' });
            return send(200, sim.setMacFaults(b as { badMac?: boolean; wrongKcv?: boolean }));
          }
          case 'POST /settlement': {
            const b = (body ?? {}) as { day?: unknown; breaks?: unknown; seed?: unknown };
            if (
              typeof b.day !== 'string' ||
              !/^\d{4}-\d{2}-\d{2}$/.test(b.day) ||
              (b.breaks !== undefined && (typeof b.breaks !== 'object' || b.breaks === null))
            ) {
              return send(400, { code: 'SW_ERR_CONFIG_INVALID', message: 'settlement needs day (YYYY-MM-DD) and optional breaks (an object)' });
            }
            const csv = sim.settlementFile(b.day, { breaks: (b.breaks ?? {}) as SettlementBreaks, ...(typeof b.seed === 'number' ? { seed: b.seed } : {}) });
            res.writeHead(200, { 'content-type': 'text/csv', 'content-length': Buffer.byteLength(csv) });
            return res.end(csv);
          }
          case 'POST /key-exchange': {
            const b = (body ?? {}) as { wrongKcv?: unknown; code?: unknown };
            if ((b.wrongKcv !== undefined && typeof b.wrongKcv !== 'boolean') || (b.code !== undefined && b.code !== '161' && b.code !== '162')) {
              return send(400, { code: 'SW_ERR_CONFIG_INVALID', message: 'key-exchange takes wrongKcv (boolean) and code ("161" or "162")' });
            }
            sim.startKeyExchange({ ...(b.wrongKcv !== undefined ? { wrongKcv: b.wrongKcv } : {}), ...(b.code !== undefined ? { code: b.code } : {}) }).then(
              (r) => send(200, r),
              (e: unknown) => send(409, { error: e instanceof Error ? e.message : 'key exchange failed' }),
            );
            return;
          }
          default:
            return send(404, { error: 'not found' });
        }
      } catch (e) {
        if (isSwitchError(e)) return send(400, e.toJSON());
        if (e instanceof SyntaxError) return send(400, { code: 'SW_ERR_CONFIG_INVALID', message: 'body is not JSON' });
        return send(500, { error: 'internal error' });
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  return {
    url: `http://${a.address}:${a.port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
