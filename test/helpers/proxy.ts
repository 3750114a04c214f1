/**
 * A TCP proxy a test can take down: down() cuts every connection through it and refuses new ones, stall() keeps
 * them open and forwards nothing (a peer that stops answering), up() lets everything through again. Put in front
 * of PostgreSQL or Redis, it is that service going away, for this test alone.
 */
import net from 'node:net';

export interface Proxy {
  port: number;
  down(): void;
  stall(): void;
  up(): void;
  close(): Promise<void>;
}

export async function tcpProxy(targetHost: string, targetPort: number): Promise<Proxy> {
  const socks = new Set<net.Socket>();
  const pairs = new Set<[net.Socket, net.Socket]>();
  let isDown = false;
  let stalled = false;
  const srv = net.createServer((c) => {
    if (isDown) {
      c.destroy();
      return;
    }
    const u = net.connect({ host: targetHost, port: targetPort });
    socks.add(c).add(u);
    const pair: [net.Socket, net.Socket] = [c, u];
    pairs.add(pair);
    const drop = () => {
      c.destroy();
      u.destroy();
      socks.delete(c);
      socks.delete(u);
      pairs.delete(pair);
    };
    c.on('error', drop).on('close', drop);
    u.on('error', drop).on('close', drop);
    if (stalled) return;
    c.pipe(u);
    u.pipe(c);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as net.AddressInfo).port,
    down() {
      isDown = true;
      for (const s of socks) s.destroy();
      socks.clear();
    },
    stall() {
      stalled = true;
      for (const [c, u] of pairs) {
        c.unpipe(u);
        u.unpipe(c);
        c.pause();
        u.pause();
      }
    },
    up() {
      isDown = false;
      if (!stalled) return;
      stalled = false;
      for (const [c, u] of pairs) {
        c.pipe(u);
        u.pipe(c);
      }
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of socks) s.destroy();
        srv.close(() => r());
      }),
  };
}

/**
 * `url` (PostgreSQL or Redis) behind a proxy of its own, closed at teardown: the proxy, and the url that goes
 * through it.
 */
export async function behindProxy(t: { teardown(fn: () => unknown): void }, url: string, defaultPort: number): Promise<{ proxy: Proxy; url: string }> {
  const u = new URL(url);
  const proxy = await tcpProxy(u.hostname, Number(u.port || defaultPort));
  t.teardown(() => proxy.close());
  u.hostname = '127.0.0.1';
  u.port = String(proxy.port);
  return { proxy, url: u.toString() };
}

/** A TCP relay that keeps every byte crossing it, both ways. */
export async function captureRelay(t: { teardown(fn: () => unknown): void }, target: number): Promise<{ port: number; bytes(): Buffer }> {
  const chunks: Buffer[] = [];
  const socks = new Set<net.Socket>();
  const srv = net.createServer((c) => {
    const u = net.connect({ host: '127.0.0.1', port: target });
    socks.add(c).add(u);
    const drop = (): void => {
      c.destroy();
      u.destroy();
    };
    c.on('error', drop).on('close', drop);
    u.on('error', drop).on('close', drop);
    c.on('data', (d: Buffer) => {
      chunks.push(d);
      u.write(d);
    });
    u.on('data', (d: Buffer) => {
      chunks.push(d);
      c.write(d);
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.teardown(
    () =>
      new Promise<void>((r) => {
        for (const s of socks) s.destroy();
        srv.close(() => r());
      }),
  );
  return { port: (srv.address() as net.AddressInfo).port, bytes: () => Buffer.concat(chunks) };
}
