// Wire encoding of securechat/1 (docs/PROTOCOL.md §2): length-prefixed
// frames, strict base64, strict UTF-8 and JSON objects without duplicate
// keys. Pure functions; no crypto here.

export const PROTOCOL_VERSION = "securechat/1";
export const SUITE = "SC1_X25519_AES256GCM_SHA256";
export const MAX_HANDSHAKE_FRAME = 32 << 10;
export const DEFAULT_MAX_FRAME = 256 << 10;
export const MIN_MAX_FRAME = 1 << 10;

export class ProtocolError extends Error {
  constructor(message, code = "protocol_error") {
    super(message);
    this.name = "ProtocolError";
    this.code = code;
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export function utf8(s) {
  return enc.encode(s);
}

// fromUTF8 refuses invalid UTF-8 (§6.3: a protocol_error).
export function fromUTF8(b) {
  try {
    return dec.decode(b);
  } catch {
    throw new ProtocolError("not UTF-8");
  }
}

export function concat(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0; // no early exit: MAC comparisons are constant time
}

export function hex(b) {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

export function fromHex(s) {
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

// b64 is RFC 4648 §4 with padding (the only binary encoding on the wire).
export function b64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

// fromB64 is strict: standard alphabet, canonical padding, and (when
// wantLen >= 0) exactly that many bytes.
export function fromB64(field, s, wantLen = -1) {
  if (typeof s !== "string" || !B64_RE.test(s)) throw new ProtocolError(`${field} is not base64`);
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  if (b64(out) !== s) throw new ProtocolError(`${field} is not canonical base64`);
  if (wantLen >= 0 && out.length !== wantLen) {
    throw new ProtocolError(`${field} is ${out.length} bytes, want ${wantLen}`);
  }
  return out;
}

// frame prefixes body with its 4-byte big-endian length (§2).
export function frame(body) {
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
}

// FrameReader reassembles frames from a byte stream carried in any number
// of WebSocket messages (§14).
export class FrameReader {
  constructor() {
    this.buf = new Uint8Array(0);
  }

  push(bytes) {
    this.buf = this.buf.length ? concat(this.buf, bytes) : bytes;
  }

  // next returns the next complete frame body, or null if more bytes are
  // needed. A length of 0 or above max is refused before the body arrives.
  next(max) {
    if (this.buf.length < 4) return null;
    const n = new DataView(this.buf.buffer, this.buf.byteOffset, 4).getUint32(0);
    if (n === 0) throw new ProtocolError("empty frame");
    if (n > max) throw new ProtocolError(`frame exceeds size limit (${n} > ${max} bytes)`);
    if (this.buf.length < 4 + n) return null;
    const body = this.buf.slice(4, 4 + n);
    this.buf = this.buf.subarray(4 + n);
    return body;
  }
}

// parseObject decodes a frame body or plaintext: UTF-8, one JSON object,
// no duplicate keys at any depth (§2).
export function parseObject(bytes) {
  const text = fromUTF8(bytes);
  let v;
  try {
    v = JSON.parse(text);
  } catch {
    throw new ProtocolError("malformed JSON");
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new ProtocolError("not a JSON object");
  checkNoDuplicateKeys(text);
  return v;
}

// checkNoDuplicateKeys walks JSON text that JSON.parse already accepted
// and refuses an object with the same key twice (JSON.parse silently keeps
// the last one, another parser might keep the first).
function checkNoDuplicateKeys(text) {
  const stack = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "{") {
      stack.push(new Set());
      expectKey = true;
    } else if (c === "[") {
      stack.push(null);
      expectKey = false;
    } else if (c === "}" || c === "]") {
      stack.pop();
      expectKey = false;
    } else if (c === ",") {
      expectKey = stack.length > 0 && stack[stack.length - 1] !== null;
    } else if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      if (expectKey) {
        const key = JSON.parse(text.slice(i, j + 1));
        const keys = stack[stack.length - 1];
        if (keys.has(key)) throw new ProtocolError(`duplicate key ${JSON.stringify(key).slice(0, 40)}`);
        keys.add(key);
        expectKey = false;
      }
      i = j;
    }
  }
}

// field reads a member of a parsed object with a fixed JSON type (§2).
export function field(obj, name, type, optional = false) {
  const v = obj[name];
  if (v === undefined && optional) return undefined;
  const ok =
    type === "integer" ? Number.isSafeInteger(v) : type === "array" ? Array.isArray(v) : typeof v === type;
  if (!ok) throw new ProtocolError(`field ${name} is not a${type === "integer" ? "n" : ""} ${type}`);
  return v;
}
