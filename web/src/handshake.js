// Client side of the securechat/1 handshake (docs/PROTOCOL.md §3–§5) and
// of resumption (§13), over any transport that sends bytes and reads
// frames.
import {
  DEFAULT_MAX_FRAME,
  MAX_HANDSHAKE_FRAME,
  MIN_MAX_FRAME,
  PROTOCOL_VERSION,
  ProtocolError,
  SUITE,
  b64,
  equalBytes,
  field,
  frame,
  fromB64,

  parseObject,
  utf8,
} from "./wire.js";
import {
  CLIENT_SIGNATURE_CONTEXT,
  SERVER_SIGNATURE_CONTEXT,
  Transcript,
  binder,
  expandLabel,
  finishedMAC,
  handshakeSecret,
  newKeyShare,
  resumptionSecret,
  signedContent,
  x25519,
} from "./keyschedule.js";
import { DIR_CLIENT_TO_SERVER, DIR_SERVER_TO_CLIENT, HalfConn, parseRecord, remoteErrorOf, RemoteError } from "./record.js";

export const TIMESTAMP_WINDOW_S = 120; // ±2 minutes (§7.1)
export const MAX_TICKET_LIFETIME_S = 7 * 24 * 3600;
const BINDER_B64_LEN = 44;

// buildClientHello returns the client_hello body (§4.1) with the members in
// the order Go writes them; with a ticket, the binder is the last member
// and is computed over the body up to its opening quote (§13.3).
export async function buildClientHello(f, ticket = null) {
  const hello = {
    type: "client_hello",
    version: PROTOCOL_VERSION,
    suites: [SUITE],
  };
  if (f.clientId) hello.client_id = f.clientId;
  Object.assign(hello, {
    certificate: f.certificate,
    client_random: b64(f.clientRandom),
    timestamp: f.timestamp,
    key_share: b64(f.keyShare),
    max_frame: f.maxFrame,
  });
  if (f.ticketRequest) hello.ticket_request = true;
  if (!ticket) return utf8(JSON.stringify(hello));
  hello.ticket = b64(ticket.ticket);
  hello.binder = "A".repeat(BINDER_B64_LEN);
  const body = utf8(JSON.stringify(hello));
  const n = body.length - BINDER_B64_LEN - 2;
  body.set(utf8(b64(await binder(ticket.secret, body.subarray(0, n)))), n);
  return body;
}

// decodeHandshake parses a handshake frame of type want; an error frame in
// its place is thrown as a RemoteError.
function decodeHandshake(body, want) {
  const obj = parseObject(body);
  const type = field(obj, "type", "string");
  if (type === "error") throw remoteErrorOf(obj);
  if (type !== want) throw new ProtocolError(`got ${JSON.stringify(type.slice(0, 32))}, want ${want}`);
  return obj;
}

// checkServerHello validates server_hello (§4.2, §7.2, §13.1) and returns
// what the handshake needs from it.
export function checkServerHello(obj, { offered, ticketRequest, nowS }) {
  const status = field(obj, "status", "string");
  if (status !== "ok") {
    const e = obj.error;
    if (e === null || typeof e !== "object") throw new ProtocolError("server_hello status without error");
    throw remoteErrorOf(e);
  }
  const resumed = field(obj, "resumed", "boolean", true) === true;
  const newTicket = field(obj, "new_ticket", "boolean", true) === true;
  if ((resumed && !offered) || (newTicket && !ticketRequest)) {
    throw new ProtocolError("server_hello answers a ticket field the client did not send");
  }
  if (field(obj, "version", "string") !== PROTOCOL_VERSION || field(obj, "suite", "string") !== SUITE) {
    throw new ProtocolError("server chose another version or suite", "handshake_failed");
  }
  const maxFrame = field(obj, "max_frame", "integer");
  if (maxFrame < MIN_MAX_FRAME) throw new ProtocolError(`max_frame ${maxFrame} is below ${MIN_MAX_FRAME}`);
  fromB64("server_random", field(obj, "server_random", "string"), 32);
  const keyShare = fromB64("key_share", field(obj, "key_share", "string"), 32);
  const ts = field(obj, "timestamp", "integer");
  if (Math.abs(ts - nowS) > TIMESTAMP_WINDOW_S) {
    throw new ProtocolError("server timestamp outside the window", "replay_detected");
  }
  const chain = resumed ? null : field(obj, "server_certificate", "string");
  return { resumed, newTicket, maxFrame, keyShare, chain };
}

// checkServerFinish verifies server_finish (§4.3): the signature over TH_SH
// with the server certificate's key (full handshake only) and the Finished
// MAC.
export async function checkServerFinish(obj, { hs, thSH, resumed, verify }) {
  const finished = fromB64("finished", field(obj, "finished", "string"), 32);
  if (resumed) {
    if (obj.signature !== undefined) throw new ProtocolError("resumed server_finish carries a signature");
  } else {
    const sig = fromB64("signature", field(obj, "signature", "string"));
    if (!(await verify(signedContent(SERVER_SIGNATURE_CONTEXT, thSH), sig))) {
      throw new ProtocolError("server signature does not verify", "handshake_failed");
    }
  }
  if (!equalBytes(finished, await finishedMAC(hs, "s finished", thSH))) {
    throw new ProtocolError("server Finished MAC does not verify", "handshake_failed");
  }
}

// buildClientFinish is client_finish (§4.4): signature and MAC over TH_SF,
// or the MAC alone when resumed (§13.1).
export async function buildClientFinish({ hs, thSF, resumed, sign }) {
  const mac = b64(await finishedMAC(hs, "c finished", thSF));
  if (resumed) return utf8(JSON.stringify({ type: "client_finish", finished: mac }));
  const sig = await sign(signedContent(CLIENT_SIGNATURE_CONTEXT, thSF));
  return utf8(JSON.stringify({ type: "client_finish", signature: b64(sig), finished: mac }));
}

// applicationSecrets derives both directions' first traffic secrets (§5.2).
export async function applicationSecrets(hs, thCF) {
  return {
    c: await expandLabel(hs, "c ap traffic", thCF, 32),
    s: await expandLabel(hs, "s ap traffic", thCF, 32),
  };
}

// clientHandshake runs the whole client side over conn ({send(bytes),
// readFrame(max)}). opts:
//   certificate  PEM chain of the client (leaf first)
//   clientId     optional, the leaf's CN
//   sign(content)           DER signature with the certificate's key
//   verifyServer(pemChain)  checks the chain (§7.3) and returns
//                           {cert, verify(content, sig)}; throws if refused
//   checkResumed(cert)      re-checks the server certificate kept with a ticket
//   ticket       {ticket, secret, expiresMs, serverCert, clientCert} or null
//   wantTicket   ask for a ticket (§13.1)
//   now()        milliseconds, random(n) bytes (injected for tests)
// It returns {out, in, peerMaxFrame, resumed, serverCert, ticket}.
export async function clientHandshake(conn, opts) {
  const now = opts.now ?? Date.now;
  const random = opts.random ?? ((n) => crypto.getRandomValues(new Uint8Array(n)));
  const maxFrame = opts.maxFrame ?? DEFAULT_MAX_FRAME;
  const th = new Transcript();
  const share = opts.keyShare ?? (await newKeyShare());
  const offered = opts.ticket && now() < opts.ticket.expiresMs ? opts.ticket : null;
  const ch = await buildClientHello(
    {
      clientId: opts.clientId,
      certificate: opts.certificate,
      clientRandom: random(32),
      timestamp: Math.floor(now() / 1000),
      keyShare: share.publicKey,
      maxFrame,
      ticketRequest: !!opts.wantTicket,
    },
    offered,
  );
  th.add(ch);
  conn.send(frame(ch));

  const shBody = await conn.readFrame(MAX_HANDSHAKE_FRAME);
  const sh = checkServerHello(decodeHandshake(shBody, "server_hello"), {
    offered,
    ticketRequest: !!opts.wantTicket,
    nowS: Math.floor(now() / 1000),
  });
  th.add(shBody);
  const thSH = await th.sum();
  const shared = await x25519(share.privateKey, sh.keyShare);
  const hs = await handshakeSecret(shared, sh.resumed ? offered.secret : null);

  let server;
  try {
    server = sh.resumed ? await opts.checkResumed(offered.serverCert) : await opts.verifyServer(sh.chain);
  } catch (e) {
    abort(conn, "certificate_rejected", e.message);
    throw e;
  }
  const sfBody = await conn.readFrame(MAX_HANDSHAKE_FRAME);
  try {
    await checkServerFinish(decodeHandshake(sfBody, "server_finish"), {
      hs,
      thSH,
      resumed: sh.resumed,
      verify: server.verify,
    });
  } catch (e) {
    if (!(e instanceof RemoteError)) abort(conn, e.code ?? "handshake_failed", e.message);
    throw e;
  }
  th.add(sfBody);
  const thSF = await th.sum();
  const cf = await buildClientFinish({ hs, thSF, resumed: sh.resumed, sign: opts.sign });
  th.add(cf);
  conn.send(frame(cf));
  const thCF = await th.sum();
  const sec = await applicationSecrets(hs, thCF);
  const out = await HalfConn.create(DIR_CLIENT_TO_SERVER, sec.c);
  const inn = await HalfConn.create(DIR_SERVER_TO_CLIENT, sec.s);
  let ticket = null;
  if (sh.newTicket) {
    ticket = await readNewTicket(conn, inn, maxFrame, now);
    ticket.secret = await resumptionSecret(hs, thCF);
    ticket.serverCert = server.cert;
  }
  return { out, in: inn, peerMaxFrame: sh.maxFrame, resumed: sh.resumed, serverCert: server.cert, ticket };
}

async function readNewTicket(conn, inn, maxFrame, now) {
  const rec = parseRecord(await conn.readFrame(maxFrame), new Set(["new_ticket"]));
  const nt = parseObject(await inn.open(rec));
  const ticket = fromB64("ticket", field(nt, "ticket", "string"));
  const life = field(nt, "lifetime_s", "integer");
  if (life < 0 || life > MAX_TICKET_LIFETIME_S) throw new ProtocolError(`new_ticket lifetime ${life} s`);
  return { ticket, expiresMs: now() + life * 1000 };
}

// abort tells the server why the client gives up (an error frame, §8).
function abort(conn, code, reason) {
  try {
    conn.send(frame(utf8(JSON.stringify({ type: "error", code, reason: String(reason).slice(0, 512) }))));
  } catch {
    // the connection is gone; nothing to tell
  }
}

