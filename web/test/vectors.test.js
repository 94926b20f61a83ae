// Pins the browser implementation to the same bytes as Go: every value of
// chat/channel/testdata/vectors.json and resume_vectors.json (docs/PROTOCOL.md
// §10, §13.6) is recomputed here with the page's own protocol code.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { b64, frame, fromB64, fromHex, hex, parseObject, utf8 } from "../src/wire.js";
import { Transcript, expandLabel, handshakeSecret, resumptionSecret, x25519, binder } from "../src/keyschedule.js";
import { DIR_CLIENT_TO_SERVER, DIR_SERVER_TO_CLIENT, HalfConn, parseRecord } from "../src/record.js";
import {
  applicationSecrets,
  buildClientFinish,
  buildClientHello,
  checkServerFinish,
  checkServerHello,
  clientHandshake,
} from "../src/handshake.js";
import { parseCertificate, signatureVerifier, verifyServerChain } from "../src/pki.js";

const v = JSON.parse(fs.readFileSync(new URL("../../chat/channel/testdata/vectors.json", import.meta.url)));
const rv = JSON.parse(fs.readFileSync(new URL("../../chat/channel/testdata/resume_vectors.json", import.meta.url)));
const NOW_MS = Date.parse(v.time);

// stream returns the bytes start, start+1, … (the vectors' random streams).
function stream(start, n) {
  return Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);
}

// Test-only key import from raw bytes: PKCS#8 wrappers with the fixed
// prefixes of RFC 8410 for 32-byte X25519 and Ed25519 private keys.
const PKCS8_X25519 = fromHex("302e020100300506032b656e04220420");
const PKCS8_ED25519 = fromHex("302e020100300506032b657004220420");
async function x25519Private(raw) {
  return crypto.subtle.importKey("pkcs8", new Uint8Array([...PKCS8_X25519, ...raw]), { name: "X25519" }, false, ["deriveBits"]);
}
async function ed25519Signer(seedHex) {
  const k = await crypto.subtle.importKey("pkcs8", new Uint8Array([...PKCS8_ED25519, ...fromHex(seedHex)]), { name: "Ed25519" }, false, ["sign"]);
  return async (content) => new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, k, content));
}

const hello = JSON.parse(v.client_hello);

test("client_hello is byte-for-byte the Go client's", async () => {
  const body = await buildClientHello({
    clientId: "client123",
    certificate: v.client_certificate,
    clientRandom: stream(0, 32),
    timestamp: NOW_MS / 1000,
    keyShare: fromB64("key_share", hello.key_share, 32),
    maxFrame: 262144,
  });
  assert.equal(new TextDecoder().decode(body), v.client_hello);
});

test("full handshake: transcript, secrets, signatures, MACs, keys, records", async () => {
  const t = new Transcript();
  t.add(utf8(v.client_hello));
  const sh = checkServerHello(parseObject(utf8(v.server_hello)), { offered: null, ticketRequest: false, nowS: NOW_MS / 1000 });
  t.add(utf8(v.server_hello));
  const thSH = await t.sum();
  assert.equal(hex(thSH), v.transcript_hash_server_hello);
  const shared = await x25519(await x25519Private(stream(32, 32)), sh.keyShare);
  assert.equal(hex(shared), v.x25519_shared_secret);
  const hs = await handshakeSecret(shared);
  assert.equal(hex(hs), v.handshake_secret);

  const leaf = await verifyServerChain(sh.chain, { roots: [parseCertificate(v.ca_certificate)], serverName: "chat.example", now: new Date(NOW_MS) });
  await checkServerFinish(parseObject(utf8(v.server_finish)), { hs, thSH, resumed: false, verify: await signatureVerifier(leaf) });
  t.add(utf8(v.server_finish));
  const thSF = await t.sum();
  assert.equal(hex(thSF), v.transcript_hash_server_finish);

  const cf = await buildClientFinish({ hs, thSF, resumed: false, sign: await ed25519Signer(v.client_ed25519_seed) });
  assert.equal(new TextDecoder().decode(cf), v.client_finish);
  t.add(cf);
  const thCF = await t.sum();
  assert.equal(hex(thCF), v.transcript_hash_client_finish);

  await applicationSecretsCheck(hs, thCF, v);
  const sec = await applicationSecrets(hs, thCF);
  const out = await HalfConn.create(DIR_CLIENT_TO_SERVER, sec.c);
  assert.equal(new TextDecoder().decode((await out.seal("message", utf8(v.message_plaintext))).subarray(4)), v.message_frame);
  const inn = await HalfConn.create(DIR_SERVER_TO_CLIENT, sec.s);
  assert.equal(new TextDecoder().decode(await inn.open(parseRecord(utf8(v.ack_frame)))), '{"id":1}');
});

test("a tampered server_finish, a wrong name and a foreign root are refused", async () => {
  const t = new Transcript();
  t.add(utf8(v.client_hello));
  t.add(utf8(v.server_hello));
  const thSH = await t.sum();
  const sh = checkServerHello(parseObject(utf8(v.server_hello)), { offered: null, ticketRequest: false, nowS: NOW_MS / 1000 });
  const hs = await handshakeSecret(await x25519(await x25519Private(stream(32, 32)), sh.keyShare));
  const roots = [parseCertificate(v.ca_certificate)];
  const leaf = await verifyServerChain(sh.chain, { roots, serverName: "chat.example", now: new Date(NOW_MS) });
  const sf = JSON.parse(v.server_finish);
  const bad = { ...sf, finished: b64(new Uint8Array(32)) };
  await assert.rejects(checkServerFinish(bad, { hs, thSH, resumed: false, verify: await signatureVerifier(leaf) }), /Finished MAC/);
  const sig = fromB64("s", sf.signature);
  sig[0] ^= 1;
  await assert.rejects(checkServerFinish({ ...sf, signature: b64(sig) }, { hs, thSH, resumed: false, verify: await signatureVerifier(leaf) }), /signature/);
  await assert.rejects(verifyServerChain(sh.chain, { roots, serverName: "evil.example", now: new Date(NOW_MS) }), /not valid for evil.example/);
  await assert.rejects(verifyServerChain(sh.chain, { roots: [parseCertificate(v.client_certificate)], serverName: "chat.example", now: new Date(NOW_MS) }), /pinned root/);
  await assert.rejects(verifyServerChain(sh.chain, { roots, serverName: "chat.example", now: new Date("2040-01-01") }), /validity/);
  await assert.rejects(verifyServerChain(v.client_certificate, { roots, serverName: "client123", now: new Date(NOW_MS) }), /serverAuth/);
  assert.throws(() => checkServerHello(parseObject(utf8(v.server_hello)), { offered: null, ticketRequest: false, nowS: NOW_MS / 1000 + 121 }), /window/);
});

test("records: replayed, reordered and tampered records fail", async () => {
  const sec = { s: fromHex(v.handshake_secret) };
  const out = await HalfConn.create(DIR_SERVER_TO_CLIENT, sec.s);
  const inn = await HalfConn.create(DIR_SERVER_TO_CLIENT, sec.s);
  const f0 = parseRecord((await out.seal("deliver", utf8("a"))).subarray(4));
  const f1 = parseRecord((await out.seal("deliver", utf8("b"))).subarray(4));
  await assert.rejects(inn.open(f1), /sequence 1, expected 0/);
  const t = { ...f0, ciphertext: f0.ciphertext.slice() };
  t.ciphertext[0] ^= 1;
  await assert.rejects(inn.open(t), /authentication/);
  await assert.rejects(inn.open({ ...f0, type: "event" }), /authentication/);
  assert.equal(new TextDecoder().decode(await inn.open(f0)), "a");
  await assert.rejects(inn.open(f0), /sequence 0, expected 1/);
  assert.throws(() => parseRecord(utf8('{"type":"deliver","seq":0,"seq":1,"ciphertext":""}')), /duplicate key/);
  assert.throws(() => parseRecord(utf8('{"type":"message","seq":0,"ciphertext":""}')), /unexpected record type/);
  assert.throws(() => parseRecord(utf8('{"type":"deliver","seq":0,"ciphertext":"AA"}')), /base64/);
});

test("key update: both sides move to the next secret", async () => {
  const s = fromHex(v.handshake_secret);
  const a = await HalfConn.create(DIR_CLIENT_TO_SERVER, s);
  const b = await HalfConn.create(DIR_CLIENT_TO_SERVER, s);
  await a.update();
  await assert.rejects(b.open(parseRecord((await a.seal("ack", utf8("x"))).subarray(4))), /authentication/);
  await b.update();
  b.seq = 1;
  assert.equal(new TextDecoder().decode(await b.open(parseRecord((await a.seal("ack", utf8("y"))).subarray(4)))), "y");
});

test("resumption: binder, resumed secrets, new_ticket and next RS match Go", async () => {
  const rs = fromHex(rv.resumption_secret);
  assert.equal(hex(await expandLabel(rs, "res binder", new Uint8Array(0), 32)), rv.binder_key);
  const body = await buildClientHello(
    {
      clientId: "client123",
      certificate: v.client_certificate,
      clientRandom: stream(0, 32),
      timestamp: NOW_MS / 1000,
      keyShare: fromB64("key_share", hello.key_share, 32),
      maxFrame: 262144,
      ticketRequest: true,
    },
    { ticket: fromB64("ticket", rv.ticket), secret: rs },
  );
  assert.equal(new TextDecoder().decode(body), rv.client_hello);
  assert.equal(b64(await binder(rs, body.subarray(0, body.length - 46))), rv.binder);

  const t = new Transcript();
  t.add(body);
  const sh = checkServerHello(parseObject(utf8(rv.server_hello)), { offered: {}, ticketRequest: true, nowS: NOW_MS / 1000 });
  assert.ok(sh.resumed && sh.newTicket);
  t.add(utf8(rv.server_hello));
  const thSH = await t.sum();
  assert.equal(hex(thSH), rv.transcript_hash_server_hello);
  const hs = await handshakeSecret(await x25519(await x25519Private(stream(32, 32)), sh.keyShare), rs);
  assert.equal(hex(hs), rv.resumed_handshake_secret);
  await checkServerFinish(parseObject(utf8(rv.server_finish)), { hs, thSH, resumed: true });
  await assert.rejects(
    checkServerFinish({ ...JSON.parse(rv.server_finish), signature: "AAAA" }, { hs, thSH, resumed: true }),
    /carries a signature/,
  );
  t.add(utf8(rv.server_finish));
  const thSF = await t.sum();
  assert.equal(hex(thSF), rv.transcript_hash_server_finish);
  const cf = await buildClientFinish({ hs, thSF, resumed: true });
  assert.equal(new TextDecoder().decode(cf), rv.client_finish);
  t.add(cf);
  const thCF = await t.sum();
  assert.equal(hex(thCF), rv.transcript_hash_client_finish);
  await applicationSecretsCheck(hs, thCF, rv);
  assert.equal(hex(await resumptionSecret(hs, thCF)), rv.next_resumption_secret);
  const sec = await applicationSecrets(hs, thCF);
  const inn = await HalfConn.create(DIR_SERVER_TO_CLIENT, sec.s);
  const nt = parseObject(await inn.open(parseRecord(utf8(rv.new_ticket_frame))));
  assert.equal(typeof nt.ticket, "string");
  const out = await HalfConn.create(DIR_CLIENT_TO_SERVER, sec.c);
  assert.equal(new TextDecoder().decode((await out.seal("message", utf8(v.message_plaintext))).subarray(4)), rv.message_frame);
  assert.throws(() => checkServerHello(parseObject(utf8(rv.server_hello)), { offered: null, ticketRequest: true, nowS: NOW_MS / 1000 }), /did not send/);
});

test("clientHandshake drives the vector exchange over a scripted transport", async () => {
  const incoming = [v.server_hello, v.server_finish].map(utf8);
  const sent = [];
  const conn = {
    send: (b) => sent.push(b),
    readFrame: async () => incoming.shift(),
  };
  const pub = fromB64("key_share", hello.key_share, 32);
  const res = await clientHandshake(conn, {
    certificate: v.client_certificate,
    clientId: "client123",
    sign: await ed25519Signer(v.client_ed25519_seed),
    verifyServer: async (pem) => {
      const leaf = await verifyServerChain(pem, { roots: [parseCertificate(v.ca_certificate)], serverName: "chat.example", now: new Date(NOW_MS) });
      return { cert: leaf, verify: await signatureVerifier(leaf) };
    },
    now: () => NOW_MS,
    random: (n) => stream(0, n),
    keyShare: { privateKey: await x25519Private(stream(32, 32)), publicKey: pub },
    maxFrame: 262144,
  });
  assert.deepEqual(sent.map((b) => new TextDecoder().decode(b.subarray(4))), [v.client_hello, v.client_finish]);
  assert.deepEqual(Array.from(sent[0].subarray(0, 4)), Array.from(frame(utf8(v.client_hello)).subarray(0, 4)));
  assert.equal(new TextDecoder().decode((await res.out.seal("message", utf8(v.message_plaintext))).subarray(4)), v.message_frame);
  assert.equal(res.resumed, false);
});

// applicationSecretsCheck compares both directions' keys and IVs with a
// vector file's values.
async function applicationSecretsCheck(hs, thCF, vec) {
  const sec = await applicationSecrets(hs, thCF);
  const empty = new Uint8Array(0);
  assert.equal(hex(await expandLabel(sec.c, "key", empty, 32)), vec.client_to_server_key);
  assert.equal(hex(await expandLabel(sec.c, "iv", empty, 12)), vec.client_to_server_iv);
  assert.equal(hex(await expandLabel(sec.s, "key", empty, 32)), vec.server_to_client_key);
  assert.equal(hex(await expandLabel(sec.s, "iv", empty, 12)), vec.server_to_client_iv);
}
