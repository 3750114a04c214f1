/**
 * Certificates for TLS tests, made in the test with the openssl CLI (an oracle independent of node:tls) into a
 * temporary directory removed at teardown: certificate authorities, a server certificate for 127.0.0.1 /
 * localhost, and client certificates with the subject the test asks for. Keys are P-256, certificates valid for
 * two days; openssl reads only the config written here, never the system's.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

interface Teardownable {
  teardown(fn: () => unknown): void;
}

export interface KeyPair {
  cert: Buffer;
  key: Buffer;
  certFile: string;
  keyFile: string;
  /** As `openssl x509 -fingerprint -sha256` prints it: upper-case hex pairs joined by colons. */
  fingerprint256: string;
}

export interface Authority {
  name: string;
  cert: Buffer;
  certFile: string;
  /** A certificate this authority signs; `subject` in openssl's form, "/CN=psp-beta/O=Beta Payments". */
  issue(file: string, subject: string, use: 'client' | 'server' | 'acquirer'): KeyPair;
}

export interface Pki {
  dir: string;
  authority(name: string): Authority;
}

/** The name the acquirer-side server certificates of makeTestPki are issued for (SNI and host name check). */
const ACQUIRER_NAME = 'acquirer.test';

const CONFIG = `[req]
distinguished_name = dn
prompt = no
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
[acquirer]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:${ACQUIRER_NAME}, DNS:localhost, IP:127.0.0.1
`;

function openssl(args: string[], cwd: string): string {
  return execFileSync('openssl', args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, OPENSSL_CONF: path.join(cwd, 'openssl.cnf') },
  });
}

/** The sha256 fingerprint of a PEM certificate, by openssl. */
export function fingerprintOf(certFile: string, cwd: string): string {
  const out = openssl(['x509', '-in', certFile, '-noout', '-fingerprint', '-sha256'], cwd);
  const m = /=([0-9A-F:]{95})/.exec(out);
  if (!m) throw new Error(`openssl printed no sha256 fingerprint: ${out}`);
  return m[1]!;
}

/** A fresh directory of certificates, removed at teardown. */
export function makePki(t: Teardownable): Pki {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'switch-pki-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'openssl.cnf'), CONFIG);
  let serial = 1000;
  const newKey = (file: string) => openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file], dir);
  return {
    dir,
    authority(name) {
      const key = `${name}-ca.key`;
      const certFile = path.join(dir, `${name}-ca.pem`);
      newKey(key);
      openssl(
        ['req', '-x509', '-new', '-key', key, '-subj', `/CN=${name} test CA`, '-days', '2', '-config', 'openssl.cnf', '-extensions', 'ca', '-out', certFile],
        dir,
      );
      return {
        name,
        cert: readFileSync(certFile),
        certFile,
        issue(file, subject, use) {
          const keyFile = path.join(dir, `${file}.key`);
          const certOut = path.join(dir, `${file}.pem`);
          newKey(keyFile);
          openssl(['req', '-new', '-key', keyFile, '-subj', subject, '-config', 'openssl.cnf', '-out', `${file}.csr`], dir);
          openssl(
            [
              'x509',
              '-req',
              '-in',
              `${file}.csr`,
              '-CA',
              certFile,
              '-CAkey',
              key,
              '-set_serial',
              String(++serial),
              '-days',
              '2',
              '-extfile',
              'openssl.cnf',
              '-extensions',
              use,
              '-out',
              certOut,
            ],
            dir,
          );
          return { cert: readFileSync(certOut), key: readFileSync(keyFile), certFile: certOut, keyFile, fingerprint256: fingerprintOf(certOut, dir) };
        },
      };
    },
  };
}

/** Files (paths) of one key pair of makeTestPki. */
export interface PemFiles {
  cert: string;
  key: string;
}

/** The certificates of the acquirer-link TLS tests (test/net/link-tls*.test.ts), as file paths. */
export interface TestPki {
  dir: string;
  /** The name `server` and `otherServer` are issued for. */
  serverName: string;
  ca: PemFiles;
  /** Another CA, trusted by no one. */
  otherCa: PemFiles;
  /** An acquirer host's certificate (serverAuth, serverName and 127.0.0.1), from `ca`. */
  server: PemFiles;
  /** The same names, from `otherCa`: untrusted (and serverAuth only, so no client certificate either). */
  otherServer: PemFiles;
  /** A client certificate (clientAuth) from `ca`. */
  client: PemFiles;
  read(file: string): Buffer;
  /** The SPKI pin of a key (or of the key a certificate carries): `sha256/` + base64(SHA-256(SubjectPublicKeyInfo, DER)), the DER by openssl. */
  pinOf(file: string): string;
}

/** A CA, another CA, server and client certificates, made by openssl; removed at teardown. */
export function makeTestPki(t: Teardownable): TestPki {
  const pki = makePki(t);
  const ca = pki.authority('acquirer');
  const other = pki.authority('other');
  const pair = (k: KeyPair): PemFiles => ({ cert: k.certFile, key: k.keyFile });
  const keyOf = (a: Authority): string => a.certFile.replace(/\.pem$/, '.key');
  let n = 0;
  return {
    dir: pki.dir,
    serverName: ACQUIRER_NAME,
    ca: { cert: ca.certFile, key: keyOf(ca) },
    otherCa: { cert: other.certFile, key: keyOf(other) },
    server: pair(ca.issue('acquirer-server', `/CN=${ACQUIRER_NAME}`, 'acquirer')),
    otherServer: pair(other.issue('other-server', `/CN=${ACQUIRER_NAME}`, 'acquirer')),
    client: pair(ca.issue('switch-client', '/CN=switch', 'client')),
    read: (file) => readFileSync(file),
    pinOf(file) {
      const der = path.join(pki.dir, `pin-${++n}.der`);
      const pem = readFileSync(file, 'utf8');
      const args = pem.includes('CERTIFICATE') ? ['x509', '-in', file, '-noout', '-pubkey'] : ['pkey', '-in', file, '-pubout'];
      const pub = path.join(pki.dir, `pin-${n}.pub`);
      writeFileSync(pub, openssl(args, pki.dir));
      openssl(['pkey', '-pubin', '-in', pub, '-outform', 'DER', '-out', der], pki.dir);
      return `sha256/${createHash('sha256').update(readFileSync(der)).digest('base64')}`;
    },
  };
}
