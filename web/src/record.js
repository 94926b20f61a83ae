// Record layer of securechat/1 (docs/PROTOCOL.md §6): AES-256-GCM with one
// key, IV and sequence number per direction.
import { PROTOCOL_VERSION, ProtocolError, b64, concat, field, frame, fromB64, parseObject, utf8 } from "./wire.js";
import { nextSecret, trafficKeys } from "./keyschedule.js";

const subtle = globalThis.crypto.subtle;

export const DIR_CLIENT_TO_SERVER = 0x43; // 'C'
export const DIR_SERVER_TO_CLIENT = 0x53; // 'S'
export const KEY_UPDATE_AFTER = 1 << 20; // records sealed per key before key_update (§6.4)
export const MAX_RECORDS_PER_KEY = 1 << 24; // records accepted per key

// Record types a client may receive (§6, §12, §13).
export const SERVER_RECORD_TYPES = new Set(["ack", "key_update", "close", "sent", "reply", "deliver", "event", "new_ticket"]);

// additionalData: "securechat/1" 0x00 dir len(type) type uint64_be(seq) (§6.2).
export function additionalData(dir, type, seq) {
  const t = utf8(type);
  const s = new Uint8Array(8);
  new DataView(s.buffer).setBigUint64(0, BigInt(seq));
  return concat(utf8(PROTOCOL_VERSION), Uint8Array.of(0, dir, t.length), t, s);
}

// HalfConn is one direction's record state.
export class HalfConn {
  constructor(dir, keys) {
    this.dir = dir;
    this.keys = keys;
    this.seq = 0;
  }

  static async create(dir, secret) {
    return new HalfConn(dir, await trafficKeys(secret));
  }

  // nonce = iv XOR (0^32 ‖ uint64_be(seq)) (RFC 8446 §5.3). One key per
  // direction, and seq strictly increases and resets only with a new key,
  // so a (key, nonce) pair never repeats.
  nonce(seq) {
    const n = this.keys.iv.slice();
    const s = new Uint8Array(8);
    new DataView(s.buffer).setBigUint64(0, BigInt(seq));
    for (let i = 0; i < 8; i++) n[4 + i] ^= s[i];
    return n;
  }

  // seal encrypts the next record of type and returns its wire frame in
  // the canonical form {"type":T,"seq":N,"ciphertext":B64}. The sequence
  // number is taken before any await, so callers must send frames in the
  // order they called seal (Session does).
  async seal(type, plaintext) {
    const seq = this.seq++;
    const ct = new Uint8Array(
      await subtle.encrypt(
        { name: "AES-GCM", iv: this.nonce(seq), additionalData: additionalData(this.dir, type, seq) },
        this.keys.key,
        plaintext,
      ),
    );
    return frame(utf8(`{"type":"${type}","seq":${seq},"ciphertext":"${b64(ct)}"}`));
  }

  // open checks that rec is the next record in sequence and decrypts it.
  async open(rec) {
    if (rec.seq !== this.seq) {
      throw new ProtocolError(`${rec.type} record has sequence ${rec.seq}, expected ${this.seq}`, "decrypt_error");
    }
    if (this.seq >= MAX_RECORDS_PER_KEY) {
      throw new ProtocolError("peer exceeded the records allowed under one key", "decrypt_error");
    }
    let pt;
    try {
      pt = await subtle.decrypt(
        { name: "AES-GCM", iv: this.nonce(rec.seq), additionalData: additionalData(this.dir, rec.type, rec.seq) },
        this.keys.key,
        rec.ciphertext,
      );
    } catch {
      throw new ProtocolError(`${rec.type} record ${rec.seq} failed authentication`, "decrypt_error");
    }
    this.seq++;
    return new Uint8Array(pt);
  }

  // update moves to the next traffic key (§6.4).
  async update() {
    this.keys = await trafficKeys(await nextSecret(this.keys.secret));
    this.seq = 0;
  }
}

// RemoteError is an error frame (§8) or a close with a code (§12.5).
export class RemoteError extends Error {
  constructor(code, reason) {
    super(reason ? `${code}: ${reason}` : code);
    this.name = "RemoteError";
    this.code = code;
    this.reason = reason;
  }
}

// parseRecord decodes a record frame body; an error frame becomes a
// thrown RemoteError.
export function parseRecord(body, allowed = SERVER_RECORD_TYPES) {
  const obj = parseObject(body);
  const type = field(obj, "type", "string");
  if (type === "error") throw remoteErrorOf(obj);
  if (!allowed.has(type)) throw new ProtocolError(`unexpected record type ${JSON.stringify(type.slice(0, 32))}`);
  const seq = obj.seq;
  if (!Number.isInteger(seq) || seq < 0) throw new ProtocolError("record seq is not a non-negative integer");
  return { type, seq, ciphertext: fromB64("ciphertext", field(obj, "ciphertext", "string")) };
}

export function remoteErrorOf(obj) {
  const code = typeof obj.code === "string" && obj.code ? obj.code.slice(0, 64) : null;
  if (!code) return new ProtocolError("malformed error frame");
  const reason = typeof obj.reason === "string" ? obj.reason.slice(0, 512) : "";
  return new RemoteError(code, reason);
}
