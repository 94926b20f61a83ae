// A securechat/1 session over a browser WebSocket (docs/PROTOCOL.md §6,
// §12, §14): the handshake, then requests answered in order (ack, sent,
// reply) and pushes (deliver, event) at any time.
import { DEFAULT_MAX_FRAME, FrameReader, ProtocolError, fromUTF8, parseObject, utf8 } from "./wire.js";
import { KEY_UPDATE_AFTER, RemoteError, parseRecord } from "./record.js";
import { clientHandshake } from "./handshake.js";

// WSTransport carries frames as a byte stream in binary WebSocket messages
// (§14) and hands them out one at a time.
export class WSTransport {
  constructor(ws) {
    this.ws = ws;
    this.reader = new FrameReader();
    this.waiter = null;
    this.ended = null;
    ws.binaryType = "arraybuffer";
    ws.onmessage = (ev) => {
      if (!(ev.data instanceof ArrayBuffer)) {
        this.fail(new ProtocolError("text WebSocket message"));
        return;
      }
      this.reader.push(new Uint8Array(ev.data));
      this.wake();
    };
    ws.onclose = () => this.fail(new ProtocolError("connection closed", "closed"));
    ws.onerror = () => this.fail(new ProtocolError("connection failed", "closed"));
  }

  static open(url) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      const t = new WSTransport(ws);
      ws.onopen = () => resolve(t);
      ws.onerror = () => reject(new ProtocolError(`cannot connect to ${url}`, "closed"));
    });
  }

  send(bytes) {
    if (this.ended) throw this.ended;
    this.ws.send(bytes);
  }

  fail(err) {
    if (!this.ended) this.ended = err;
    this.wake();
  }

  wake() {
    const w = this.waiter;
    if (w) {
      this.waiter = null;
      w();
    }
  }

  // readFrame resolves with the next frame body of at most max bytes.
  async readFrame(max) {
    for (;;) {
      const f = this.reader.next(max); // throws on an oversized or empty frame
      if (f) return f;
      if (this.ended) throw this.ended;
      await new Promise((r) => (this.waiter = r));
    }
  }

  close() {
    try {
      this.ws.close();
    } catch {
      // already closed
    }
  }
}

// closeReason splits a close plaintext "code: detail" (§12.5).
export function closeReason(text) {
  const m = /^([a-z_]+): ([\s\S]*)$/.exec(text);
  return m ? new RemoteError(m[1], m[2]) : new RemoteError("closed", text);
}

// Session is an established connection. Callbacks: onDeliver(msg) for a
// message (a direct one is confirmed to the server after it returns),
// onEvent(ev) for presence, onEnd(err) once when the session ends.
export class Session {
  constructor(conn, hs, cb, maxFrame) {
    this.conn = conn;
    this.out = hs.out;
    this.in = hs.in;
    this.peerMax = hs.peerMaxFrame;
    this.maxFrame = maxFrame;
    this.resumed = hs.resumed;
    this.ticket = hs.ticket;
    this.cb = cb;
    this.pending = []; // requests waiting for their response, in order
    this.sendChain = Promise.resolve();
    this.err = null;
    this.readLoop();
  }

  // connect opens url, runs the handshake and starts the session.
  static async connect(url, opts, cb) {
    const conn = await WSTransport.open(url);
    const maxFrame = opts.maxFrame ?? DEFAULT_MAX_FRAME;
    try {
      const hs = await clientHandshake(conn, { ...opts, maxFrame });
      return new Session(conn, hs, cb, maxFrame);
    } catch (e) {
      conn.close();
      throw e;
    }
  }

  // write seals and sends records in call order (a sequence number is
  // taken per call, so the frames must leave in the same order); a
  // key_update goes first when this direction's key is used up (§6.4).
  write(type, obj) {
    const pt = typeof obj === "string" ? utf8(obj) : utf8(JSON.stringify(obj));
    const p = this.sendChain.then(async () => {
      if (this.err) throw this.err;
      if (this.out.seq >= KEY_UPDATE_AFTER) {
        this.conn.send(await this.out.seal("key_update", new Uint8Array(0)));
        await this.out.update();
      }
      this.conn.send(await this.out.seal(type, pt));
    });
    this.sendChain = p.catch(() => {});
    return p;
  }

  // request sends a request and resolves with the parsed response
  // (ack, sent or reply; §12.1).
  request(type, obj) {
    if (this.err) return Promise.reject(this.err);
    return new Promise((resolve, reject) => {
      this.pending.push({ type, resolve, reject });
      this.write(type, obj).catch((e) => this.end(e));
    });
  }

  sendTo(to, text, clientMsgId) {
    return this.request("send", { to, text, client_msg_id: clientMsgId });
  }

  sendRoom(room, text) {
    return this.request("send", { room, text });
  }

  join(room) {
    return this.request("join", { room });
  }

  leave(room) {
    return this.request("leave", { room });
  }

  who(room) {
    return this.request("who", room ? { room } : {});
  }

  rooms() {
    return this.request("rooms", {});
  }

  async readLoop() {
    try {
      for (;;) {
        const rec = parseRecord(await this.conn.readFrame(this.maxFrame));
        const pt = await this.in.open(rec);
        await this.handle(rec.type, pt);
      }
    } catch (e) {
      this.end(e);
    }
  }

  async handle(type, pt) {
    switch (type) {
      case "key_update":
        await this.in.update();
        return;
      case "close":
        throw closeReason(fromUTF8(pt));
      case "ack":
      case "sent":
      case "reply": {
        const req = this.pending.shift();
        const expect = { message: "ack", send: "sent" }[req?.type] ?? "reply";
        if (!req || expect !== type) throw new ProtocolError(`unexpected ${type} record`);
        req.resolve(parseObject(pt));
        return;
      }
      case "deliver": {
        const m = parseObject(pt);
        this.cb.onDeliver?.(m);
        if (m.room === undefined) await this.write("delivered", `{"id":${Number(m.id)}}`);
        return;
      }
      case "event":
        this.cb.onEvent?.(parseObject(pt));
        return;
      default:
        throw new ProtocolError(`unexpected ${type} record`);
    }
  }

  end(err) {
    if (this.err) return;
    this.err = err;
    for (const p of this.pending.splice(0)) p.reject(err);
    this.conn.close();
    this.cb.onEnd?.(err);
  }

  // close says goodbye (§6.5) and ends the session.
  async close() {
    if (this.err) return;
    await this.write("close", "").catch(() => {});
    this.end(new RemoteError("closed", "closed by you"));
  }
}
