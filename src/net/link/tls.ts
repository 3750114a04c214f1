/**
 * TLS of an acquirer link (docs/network.md, "Acquirer link TLS"; docs/security.md, "Acquirer link TLS"): the
 * options checked and compiled once into a secure context, the SPKI pins a peer's chain must match, and the
 * errors of node:tls and OpenSSL turned into the link's own codes.
 */
import { createHash, X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { errorSummary, SwitchError } from '../../errors.js';

/** node:tls client options of a link, TLS 1.2 at least, and the public keys it pins. */
export interface LinkTlsOptions extends tls.ConnectionOptions {
  /**
   * SPKI pins, `sha256/` + base64 of the SHA-256 of a certificate's DER SubjectPublicKeyInfo (as HPKP's pin-sha256).
   * Absent or empty: no pinning. Given: some certificate of the verified chain (leaf to root) must carry one.
   */
  pins?: readonly string[];
}

/** What the link connects with: the options with their secure context, and the pins (null: none). */
export interface CompiledLinkTls {
  readonly connect: tls.ConnectionOptions;
  readonly pins: ReadonlySet<string> | null;
}

const ALLOWED_VERSIONS: readonly string[] = ['TLSv1.2', 'TLSv1.3'];
const PIN = /^sha256\/[A-Za-z0-9+/]{43}=$/;

function invalid(link: string, path: string, reason: string, cause?: unknown): SwitchError {
  return new SwitchError('SW_ERR_LINK_TLS_CONFIG', { link, path: `tls.${path}`, reason }, cause === undefined ? undefined : { cause });
}

/**
 * Checks a link's TLS options and builds their secure context once (the PEM files are parsed here, not on every
 * reconnect). Refused with SW_ERR_LINK_TLS_CONFIG: a version below TLSv1.2, min above max, `secureProtocol` or a
 * ready-made `secureContext` (either would bypass the floor), `rejectUnauthorized: false`, a malformed pin, a `ca`
 * without a certificate that parses, and anything node:tls cannot build a context from (a cert or key that does not
 * parse, a key that does not match its cert).
 */
export function compileLinkTls(link: string, given: LinkTlsOptions): CompiledLinkTls {
  const { pins, ...rest } = given;
  const opts: tls.ConnectionOptions = { ...rest, minVersion: rest.minVersion ?? 'TLSv1.2' };
  for (const k of ['minVersion', 'maxVersion'] as const) {
    const v = opts[k];
    if (v !== undefined && !ALLOWED_VERSIONS.includes(v)) throw invalid(link, k, `${v} is below the floor: TLSv1.2 or TLSv1.3`);
  }
  if (opts.minVersion === 'TLSv1.3' && opts.maxVersion === 'TLSv1.2') throw invalid(link, 'maxVersion', 'TLSv1.2 is below minVersion TLSv1.3');
  if (opts.secureProtocol !== undefined) throw invalid(link, 'secureProtocol', 'not supported: set minVersion (and maxVersion)');
  if (opts.secureContext !== undefined) throw invalid(link, 'secureContext', 'not supported: give the options the link builds it from');
  if (opts.rejectUnauthorized === false) throw invalid(link, 'rejectUnauthorized', "an acquirer's certificate is always verified");
  (pins ?? []).forEach((p, i) => {
    if (typeof p !== 'string' || !PIN.test(p)) throw invalid(link, `pins.${i}`, 'must be sha256/ followed by the base64 of 32 bytes');
  });
  if (opts.ca !== undefined) checkCa(link, opts.ca);
  let secureContext: tls.SecureContext;
  try {
    secureContext = tls.createSecureContext(opts);
  } catch (e) {
    throw invalid(link, '(context)', errorSummary(e).message, e);
  }
  return { connect: { ...opts, secureContext, rejectUnauthorized: true }, pins: pins && pins.length > 0 ? new Set(pins) : null };
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * node:tls takes a `ca` without one certificate in it (not PEM, a key by mistake) silently, and the link would then
 * fail every handshake as untrusted: it is refused here instead, as is a PEM block that does not parse.
 */
function checkCa(link: string, ca: string | Buffer | Array<string | Buffer>): void {
  const blocks = (Array.isArray(ca) ? ca : [ca]).flatMap((c) => c.toString('utf8').match(PEM_CERT) ?? []);
  if (blocks.length === 0) throw invalid(link, 'ca', 'holds no PEM certificate');
  blocks.forEach((b, i) => {
    try {
      new X509Certificate(b);
    } catch (e) {
      throw invalid(link, 'ca', `certificate ${i + 1} does not parse (${errorSummary(e).code ?? 'invalid'})`, e);
    }
  });
}

/** The pin of one certificate (DER): `sha256/` + base64(SHA-256(its SubjectPublicKeyInfo, DER)). */
export function spkiPin(certDer: Buffer): string {
  const spki = new X509Certificate(certDer).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256/${createHash('sha256').update(spki).digest('base64')}`;
}

/** The pins of a peer's chain as node:tls reports it (getPeerCertificate(true)), leaf first. */
export function chainPins(peer: tls.PeerCertificate | tls.DetailedPeerCertificate): string[] {
  const out: string[] = [];
  const seen = new Set<object>();
  let c: tls.DetailedPeerCertificate | undefined = peer as tls.DetailedPeerCertificate;
  // a self-signed root is its own issuer: the walk stops at a certificate already seen (and at 16, whatever happens)
  while (c && Buffer.isBuffer(c.raw) && !seen.has(c) && out.length < 16) {
    seen.add(c);
    out.push(spkiPin(c.raw));
    c = c.issuerCertificate;
  }
  return out;
}

/**
 * The pin check of a connected TLS socket: null when no pins are set or one matches; otherwise the
 * SW_ERR_LINK_TLS_PIN_MISMATCH to refuse the connection with.
 */
export function checkPins(link: string, host: string, port: number, socket: tls.TLSSocket, pins: ReadonlySet<string> | null): SwitchError | null {
  if (pins === null) return null;
  const seen = chainPins(socket.getPeerCertificate(true));
  if (seen.some((p) => pins.has(p))) return null;
  return new SwitchError('SW_ERR_LINK_TLS_PIN_MISMATCH', { link, host, port, pin: seen[0] ?? 'none' });
}

/** An error node:tls or OpenSSL raised on a TLS connection (a handshake failure, an alert from the peer). */
export function isTlsLibraryError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_'));
}

/**
 * A failure of a TLS connection attempt as SW_ERR_LINK_TLS_HANDSHAKE, its reason the library's code (e.g.
 * ERR_TLS_CERT_ALTNAME_INVALID, UNABLE_TO_VERIFY_LEAF_SIGNATURE, ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION) or, without
 * one, its scrubbed message. A SwitchError (the pin check's) is kept as it is.
 */
export function tlsFailure(link: string, host: string, port: number, e: unknown): SwitchError {
  if (e instanceof SwitchError) return e;
  const s = errorSummary(e);
  return new SwitchError('SW_ERR_LINK_TLS_HANDSHAKE', { link, host, port, reason: s.code ?? s.message }, { cause: e });
}

/** The short reason of a TLS failure for the link's events: the library's code, or the SwitchError's own. */
export function tlsFailureReason(e: SwitchError): string {
  if (e.code === 'SW_ERR_LINK_TLS_HANDSHAKE') return String(e.params.reason ?? 'tls');
  return e.code === 'SW_ERR_LINK_TLS_PIN_MISMATCH' ? 'pin-mismatch' : e.code;
}
