/**
 * A TCP relay that keeps what crosses it: the bytes each way, split into frames by a 2-byte binary length header
 * (the binary2 framer). A test puts it between the switch and an acquirer to read the wire as the acquirer does.
 */
import net from 'node:net';

export interface WireTap {
  port: number;
  /** Frames the switch sent (toward the target), and those it got back, in order, without the length header. */
  sent(): Buffer[];
  received(): Buffer[];
  close(): Promise<void>;
}

function split(chunks: Buffer[]): Buffer[] {
  const all = Buffer.concat(chunks);
  const out: Buffer[] = [];
  let o = 0;
  while (o + 2 <= all.length) {
    const n = all.readUInt16BE(o);
    if (o + 2 + n > all.length) break;
    out.push(all.subarray(o + 2, o + 2 + n));
    o += 2 + n;
  }
  return out;
}

export async function wireTap(targetHost: string, targetPort: number): Promise<WireTap> {
  const conns: Array<{ up: Buffer[]; down: Buffer[] }> = [];
  const socks = new Set<net.Socket>();
  const srv = net.createServer((c) => {
    const u = net.connect({ host: targetHost, port: targetPort });
    const rec = { up: [] as Buffer[], down: [] as Buffer[] };
    conns.push(rec);
    socks.add(c).add(u);
    const drop = () => {
      c.destroy();
      u.destroy();
    };
    c.on('error', drop).on('close', drop);
    u.on('error', drop).on('close', drop);
    c.on('data', (d: Buffer) => {
      rec.up.push(d);
      u.write(d);
    });
    u.on('data', (d: Buffer) => {
      rec.down.push(d);
      c.write(d);
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as net.AddressInfo).port,
    sent: () => conns.flatMap((c) => split(c.up)),
    received: () => conns.flatMap((c) => split(c.down)),
    close: () =>
      new Promise<void>((r) => {
        for (const s of socks) s.destroy();
        srv.close(() => r());
      }),
  };
}
