// The SecureChat page: enrolment with a key born in this browser, then a
// securechat/1 session over the same-origin WebSocket. Every string that
// comes from a peer or the server is put into the page with textContent,
// never parsed as HTML.
import * as store from "./store.js";
import { Session } from "./session.js";
import {
  buildCSR,
  commonName,
  ecdsaSigner,
  fingerprint,
  newBrowserKey,
  parseCertificate,
  parsePEMChain,
  publicKeyMatches,
  signatureVerifier,
  verifyServerChain,
} from "./pki.js";
import { RemoteError } from "./record.js";
import { dmState } from "./dmstate.js";
import { importPKCS12 } from "./pkcs12.js";

const $ = (id) => document.getElementById(id);

const state = {
  identity: null, // {privateKey, publicKey, chain (PEM), cn}
  root: null, // pinned root PEM
  session: null,
  ticket: null, // resumption ticket, kept in memory only, used once
  room: "",
  userClosed: false,
  retry: 0,
  msgSeq: 0,
};

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function timeOf(ms) {
  return new Date(ms ?? Date.now()).toLocaleTimeString();
}

// logLine appends a line built from [class, text] parts; all text goes in
// through textContent.
function logLine(kind, parts, ts) {
  const li = el("li", kind);
  li.append(el("span", "meta", `${timeOf(ts)} `));
  for (const [cls, text] of parts) li.append(el("span", cls, text));
  const log = $("log");
  log.append(li);
  log.scrollTop = log.scrollHeight;
  return li;
}

function sys(text) {
  return logLine("sys", [["", text]]);
}

function setStatus(text, cls = "") {
  const s = $("status");
  s.textContent = text;
  s.className = `status ${cls}`;
}

function notice(text) {
  const n = $("notice");
  n.textContent = text;
  n.hidden = !text;
}

async function showRoot() {
  $("root-fp").textContent = state.root ? await fingerprint(parseCertificate(state.root)) : "none";
}

// pinRoot keeps pem as the only trust anchor for the server.
async function pinRoot(pem) {
  const certs = parsePEMChain(pem);
  if (certs.length !== 1) throw new Error("give exactly one root certificate");
  state.root = pem;
  state.ticket = null; // a ticket vouches for a server checked under the old root
  await store.put("root", pem);
  await showRoot();
}

async function init() {
  state.root = (await store.get("root")) ?? null;
  if (!state.root) {
    // First visit: pin the root this server offers (trust on first use).
    // Its fingerprint is shown to compare with `scca init`'s output.
    const r = await fetch("ca.pem", { cache: "no-store" });
    if (r.ok) await pinRoot(await r.text());
  }
  await showRoot();
  state.identity = (await store.get("identity")) ?? null;
  wire();
  if (state.identity) {
    showChat();
    connect();
  } else {
    $("enroll").hidden = false;
    setStatus("not enrolled");
  }
}

function showChat() {
  $("enroll").hidden = true;
  $("chat").hidden = false;
  $("whoami").textContent = state.identity.cn;
}

function wire() {
  $("enroll-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    enroll($("enroll-cn").value.trim(), $("enroll-token").value.trim()).catch((e) => notice(`Enrolment failed: ${e.message}`));
  });
  $("p12-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    importFile($("p12-file").files[0], $("p12-password").value).catch((e) => {
      setStatus("not enrolled");
      notice(`Import failed: ${e.message}`);
    });
  });
  $("send-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = $("text").value;
    $("text").value = "";
    if (text) command(text).catch((e) => sys(`error: ${e.message}`));
  });
  $("connect").addEventListener("click", () => connect());
  $("disconnect").addEventListener("click", () => {
    state.userClosed = true;
    state.session?.close();
  });
  $("pin-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    pinRoot($("pin-pem").value)
      .then(() => sys("pinned a new root"))
      .catch((e) => notice(`Cannot pin: ${e.message}`));
  });
  $("forget").addEventListener("click", async () => {
    state.session?.close();
    await store.del("identity");
    location.reload();
  });
}

// enroll generates the key here (non-extractable), sends a CSR with the
// token to the CA through this server's /v1/sign relay, and keeps the key
// and the certificate in IndexedDB.
async function enroll(cn, token) {
  setStatus("generating key…");
  const keys = await newBrowserKey();
  const csr = await buildCSR(cn, keys);
  setStatus("enrolling…");
  const r = await fetch("v1/sign", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token, csr }),
  });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(typeof body.error === "string" ? body.error : `CA answered ${r.status}`);
  const chain = typeof body.chain === "string" && body.chain ? body.chain : body.certificate;
  const leaf = parsePEMChain(chain)[0];
  if (!(await publicKeyMatches(leaf, keys.publicKey)) || commonName(leaf) !== cn) {
    throw new Error("the CA returned a certificate for another key or name");
  }
  state.identity = { privateKey: keys.privateKey, publicKey: keys.publicKey, chain, cn };
  await store.put("identity", state.identity);
  notice("");
  showChat();
  connect();
}

// importFile takes the identity from a `scca export --p12` file: the key
// goes into WebCrypto non-extractable and, with the certificate, into
// IndexedDB; the file and its password are not kept.
async function importFile(file, password) {
  if (!file) throw new Error("choose a .p12 file");
  setStatus("decrypting…");
  const id = await importPKCS12(await file.arrayBuffer(), password, { parseCertificate });
  const cn = commonName(id.leaf);
  if (!cn) throw new Error("the certificate in the file has no common name");
  $("p12-password").value = "";
  state.identity = { privateKey: id.privateKey, publicKey: id.publicKey, chain: id.chain, cn };
  await store.put("identity", state.identity);
  notice("");
  showChat();
  connect();
}

async function verifyServer(pem) {
  if (!state.root) throw new Error("no pinned root");
  const cert = await verifyServerChain(pem, { roots: [parseCertificate(state.root)], serverName: location.hostname });
  return { cert, verify: await signatureVerifier(cert) };
}

async function checkResumed(cert) {
  const now = new Date();
  if (now < cert.notBefore || now > cert.notAfter) throw new Error("server certificate is outside its validity period");
  return { cert };
}

function wsURL() {
  return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/chat`;
}

async function connect() {
  if (state.session && !state.session.err) return;
  state.userClosed = false;
  const ticket = state.ticket;
  state.ticket = null; // offered at most once (§13.2)
  setStatus("connecting…");
  let s;
  try {
    s = await Session.connect(
      wsURL(),
      {
        certificate: state.identity.chain,
        clientId: state.identity.cn,
        sign: ecdsaSigner(state.identity.privateKey),
        verifyServer,
        checkResumed,
        ticket,
        wantTicket: true,
      },
      { onDeliver, onEvent, onEnd },
    );
  } catch (e) {
    setStatus("not connected", "bad");
    notice(`Cannot connect: ${describe(e)}`);
    return;
  }
  state.session = s;
  state.ticket = s.ticket;
  state.retry = 0;
  notice("");
  setStatus(`connected${s.resumed ? " (resumed)" : ""}`, "ok");
  if (state.room) {
    const room = state.room;
    state.room = "";
    await join(room).catch((e) => sys(`rejoin failed: ${e.message}`));
  }
}

function describe(e) {
  if (e instanceof RemoteError) return `${e.code}: ${e.reason}`;
  return e.message;
}

function onEnd(err) {
  state.session = null;
  setStatus("disconnected", "bad");
  if (state.userClosed) return;
  if (err instanceof RemoteError) {
    // The server said why (e.g. certificate_revoked): show it, do not retry.
    notice(`The server ended the session: ${describe(err)}`);
    return;
  }
  notice(`Connection lost: ${describe(err)}; reconnecting…`);
  const delay = Math.min(30000, 1000 * 2 ** state.retry++);
  setTimeout(() => {
    if (!state.session && !state.userClosed) connect();
  }, delay);
}

function onDeliver(m) {
  const text = typeof m.text === "string" ? m.text : "";
  const from = typeof m.from === "string" ? m.from : "?";
  if (typeof m.room === "string") {
    logLine("msg room", [["room", `[${m.room}] `], ["from", from], ["sep", ": "], ["text", text]], m.ts);
  } else {
    logLine("msg dm", [["room", "[dm] "], ["from", from], ["sep", ": "], ["text", text]], m.ts);
  }
}

function onEvent(ev) {
  const verb = ev.kind === "join" ? "joined" : "left";
  sys(`${String(ev.cn)} ${verb} ${String(ev.room)}`);
}

function need() {
  if (!state.session) throw new Error("not connected");
  return state.session;
}

async function join(room) {
  const r = await need().join(room);
  if (r.error) throw new Error(String(r.error));
  state.room = room;
  $("room-label").textContent = `room: ${room}`;
  sys(`joined ${room}; members: ${(r.members ?? []).join(", ")}`);
}

// command runs one line typed by the user, like `scca chat client`.
async function command(line) {
  const m = /^\/(\w+)\s*([\s\S]*)$/.exec(line);
  if (!m) return say(line);
  const [, cmd, rest] = m;
  switch (cmd) {
    case "msg": {
      const dm = /^(\S+)\s+([\s\S]+)$/.exec(rest);
      if (!dm) throw new Error("usage: /msg CN TEXT");
      return sendDM(dm[1], dm[2]);
    }
    case "join":
      if (!rest) throw new Error("usage: /join ROOM");
      if (state.room) await leave();
      return join(rest.trim());
    case "leave":
      return leave();
    case "who": {
      const r = await need().who(rest.trim());
      if (r.error) throw new Error(String(r.error));
      return sys(`${rest.trim() ? `in ${rest.trim()}` : "online"}: ${(r.members ?? []).join(", ")}`);
    }
    case "rooms": {
      const r = await need().rooms();
      return sys(`rooms: ${(r.rooms ?? []).join(", ") || "none"}`);
    }
    default:
      throw new Error(`unknown command /${cmd}`);
  }
}

async function leave() {
  if (!state.room) throw new Error("not in a room");
  const room = state.room;
  state.room = "";
  $("room-label").textContent = "";
  const r = await need().leave(room);
  if (r.error) throw new Error(String(r.error));
  sys(`left ${room}`);
}

async function say(text) {
  const s = need();
  if (state.room) {
    const li = logLine("msg mine", [["room", `[${state.room}] `], ["from", state.identity.cn], ["sep", ": "], ["text", text]]);
    const r = await s.sendRoom(state.room, text);
    markState(li, r);
    return;
  }
  const li = logLine("msg mine", [["room", "[server] "], ["from", state.identity.cn], ["sep", ": "], ["text", text]]);
  await s.request("message", text);
  markState(li, { status: "delivered" });
}

// sendDM shows the message at once with its state: sending, then
// delivered, queued (recipient offline) or rejected with the reason.
async function sendDM(to, text) {
  const li = logLine("msg mine dm", [["room", "[dm → "], ["to", to], ["room", "] "], ["text", text]]);
  const st = li.appendChild(el("span", "state", "sending…"));
  try {
    markState(li, await need().sendTo(to, text, `web-${Date.now()}-${state.msgSeq++}`), st);
  } catch (e) {
    st.textContent = `not sent: ${describe(e)}`;
    st.className = "state rejected";
  }
}

function markState(li, r, st = li.appendChild(el("span", "state"))) {
  const { status, reason, text } = dmState(r);
  st.textContent = text;
  st.className = `state ${status}`;
  li.dataset.state = status;
  if (reason) li.dataset.reason = reason;
}

init().catch((e) => notice(`Start failed: ${e.message}`));
