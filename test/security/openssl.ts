/**
 * The openssl command line as an independent oracle for the security tests: the same ciphers computed by another
 * program than the code under test (its own process, its own argument handling).
 */
import { spawn } from 'node:child_process';

/** Runs `openssl args…` with `input` on stdin; resolves with stdout, rejects with stderr on a non-zero exit. */
export function openssl(args: string[], input: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const p = spawn('openssl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout.on('data', (c: Buffer) => out.push(c));
    p.stderr.on('data', (c: Buffer) => err.push(c));
    p.once('error', reject);
    p.once('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`openssl ${args[0]}: ${Buffer.concat(err).toString()}`))));
    p.stdin.end(Buffer.from(input));
  });
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** TDES ECB (`-des-ede` for 16-byte keys, `-des-ede3` for 24), no padding. */
export function opensslTdesEcb(key: Uint8Array, data: Uint8Array, decrypt = false): Promise<Buffer> {
  const cipher = key.length === 16 ? '-des-ede' : '-des-ede3';
  return openssl(['enc', ...(decrypt ? ['-d'] : []), cipher, '-K', hex(key), '-nopad'], data);
}

/**
 * ISO 9797-1 MAC algorithm 3 from openssl steps: single-DES CBC under K (as `-des-ede-cbc` with K || K) over the
 * padded data, the last block decrypted under K', encrypted under K.
 */
export async function opensslRetailMac(key: Uint8Array, padded: Uint8Array): Promise<Buffer> {
  const k = Buffer.from(key.subarray(0, 8));
  const k2 = Buffer.from(key.subarray(8, 16));
  const cbc = await openssl(['enc', '-des-ede-cbc', '-K', hex(Buffer.concat([k, k])), '-iv', '0000000000000000', '-nopad'], padded);
  const h = cbc.subarray(cbc.length - 8);
  const d = await openssl(['enc', '-d', '-des-ede', '-K', hex(Buffer.concat([k2, k2])), '-nopad'], h);
  return openssl(['enc', '-des-ede', '-K', hex(Buffer.concat([k, k])), '-nopad'], d);
}
