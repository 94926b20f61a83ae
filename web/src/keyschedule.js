// Key schedule of securechat/1 (docs/PROTOCOL.md §5, §13.3) on WebCrypto:
// SHA-256, HMAC-SHA256, HKDF-SHA256, X25519. No primitive is implemented
// here; HKDF-Extract and -Expand are RFC 5869 written with WebCrypto's
// HMAC, because WebCrypto's HKDF only offers Extract and Expand fused, and
// the protocol expands secrets that were themselves expanded.
import { PROTOCOL_VERSION, ProtocolError, concat, utf8 } from "./wire.js";

const subtle = globalThis.crypto.subtle;
const LABEL_PREFIX = "sc1 ";

export const SERVER_SIGNATURE_CONTEXT = "SecureChat 1 server signature";
export const CLIENT_SIGNATURE_CONTEXT = "SecureChat 1 client signature";

export async function sha256(data) {
  return new Uint8Array(await subtle.digest("SHA-256", data));
}

export async function hmac(key, data) {
  const k = await subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await subtle.sign("HMAC", k, data));
}

// hkdfExtract is RFC 5869 §2.2: PRK = HMAC-SHA256(salt, IKM).
export function hkdfExtract(salt, ikm) {
  return hmac(salt, ikm);
}

// hkdfExpand is RFC 5869 §2.3 with SHA-256.
export async function hkdfExpand(prk, info, length) {
  const out = new Uint8Array(length);
  let t = new Uint8Array(0);
  for (let i = 1, off = 0; off < length; i++) {
    t = await hmac(prk, concat(t, info, Uint8Array.of(i)));
    out.set(t.subarray(0, Math.min(t.length, length - off)), off);
    off += t.length;
  }
  return out;
}

// expandLabel is HKDF-Expand-Label (RFC 8446 §7.1) with prefix "sc1 " (§5.2).
export function expandLabel(secret, label, context, length) {
  const full = utf8(LABEL_PREFIX + label);
  const info = concat(Uint8Array.of(length >> 8, length & 0xff, full.length), full, Uint8Array.of(context.length), context);
  return hkdfExpand(secret, info, length);
}

const EMPTY = new Uint8Array(0);

// handshakeSecret: HS = HKDF-Extract(salt "securechat/1", shared); with a
// resumption secret, HS' = HKDF-Extract(salt RS, shared) (§13.3).
export function handshakeSecret(shared, rs = null) {
  return hkdfExtract(rs ?? utf8(PROTOCOL_VERSION), shared);
}

// finishedMAC = HMAC-SHA256(ExpandLabel(HS, label, TH, 32), TH) (§5.4).
export async function finishedMAC(hs, label, th) {
  return hmac(await expandLabel(hs, label, th, 32), th);
}

export function resumptionSecret(hs, thCF) {
  return expandLabel(hs, "resumption", thCF, 32);
}

export async function binder(rs, truncatedHello) {
  return hmac(await expandLabel(rs, "res binder", EMPTY, 32), truncatedHello);
}

// trafficKeys derives one direction's AES-256-GCM key and 12-byte IV from
// its traffic secret (§5.2). The key is imported non-extractable.
export async function trafficKeys(secret) {
  const raw = await expandLabel(secret, "key", EMPTY, 32);
  const iv = await expandLabel(secret, "iv", EMPTY, 12);
  const key = await subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
  return { secret, key, iv };
}

// nextSecret is the key update step (§6.4).
export function nextSecret(secret) {
  return expandLabel(secret, "traffic upd", EMPTY, 32);
}

// signedContent: 64 × 0x20 ‖ context ‖ 0x00 ‖ transcript hash (§5.3).
export function signedContent(context, th) {
  return concat(new Uint8Array(64).fill(0x20), utf8(context), Uint8Array.of(0), th);
}

// Transcript is SHA-256 over the exact frames (length prefix included) of
// the handshake, in order (§5.1). It keeps the bytes and hashes them on
// demand (WebCrypto has no incremental hash; a handshake is a few KiB).
export class Transcript {
  constructor() {
    this.parts = [];
  }

  add(body) {
    const hdr = new Uint8Array(4);
    new DataView(hdr.buffer).setUint32(0, body.length);
    this.parts.push(hdr, body);
  }

  sum() {
    return sha256(concat(...this.parts));
  }
}

// newKeyShare makes a fresh ephemeral X25519 key pair for one handshake
// (forward secrecy: it is never stored and the private half cannot be
// exported).
export async function newKeyShare() {
  const kp = await subtle.generateKey({ name: "X25519" }, false, ["deriveBits"]);
  const pub = new Uint8Array(await subtle.exportKey("raw", kp.publicKey));
  return { privateKey: kp.privateKey, publicKey: pub };
}

// x25519 computes the shared secret and refuses the all-zero output of a
// small-order peer key (§5.2).
export async function x25519(privateKey, peerPublic) {
  let bits;
  try {
    const pub = await subtle.importKey("raw", peerPublic, { name: "X25519" }, true, []);
    bits = new Uint8Array(await subtle.deriveBits({ name: "X25519", public: pub }, privateKey, 256));
  } catch {
    throw new ProtocolError("bad X25519 key share", "handshake_failed");
  }
  if (bits.every((b) => b === 0)) throw new ProtocolError("X25519 produced the all-zero secret", "handshake_failed");
  return bits;
}
