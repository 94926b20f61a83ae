// PKCS#12 import against a file written by the CA's own export
// (ca.EncodePKCS12: go-pkcs12 Modern2023, PBES2/PBKDF2-SHA256 +
// AES-256-CBC, SHA-256 MAC, 600,000 iterations) for a self-signed "dave",
// password "pässwörd 1" (non-ASCII on purpose: UTF-8 on both sides).
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { importPKCS12, WrongPassword } from "../src/pkcs12.js";
import { parseCertificate } from "../src/pki.js";

const file = fs.readFileSync(new URL("testdata/dave.p12", import.meta.url));
const buf = file.buffer.slice(file.byteOffset, file.byteOffset + file.length);

test("the CA's export opens with its password; the key is not extractable", async () => {
  const id = await importPKCS12(buf, "pässwörd 1", { parseCertificate });
  assert.equal(id.privateKey.extractable, false);
  assert.equal(id.privateKey.type, "private");
  assert.equal(id.leaf.subject, "CN=dave");
  assert.match(id.chain, /^-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n$/);
  assert.equal(parseCertificate(id.chain.trim()).subject, "CN=dave"); // the self-signed root is not repeated
  const msg = new TextEncoder().encode("probe");
  const sig = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, id.privateKey, msg);
  assert.ok(await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, id.publicKey, sig, msg));
});

test("a wrong password is told as such", async () => {
  await assert.rejects(importPKCS12(buf, "pässwörd 2", { parseCertificate }), WrongPassword);
});

test("a file that is not PKCS#12 is told as such", async () => {
  await assert.rejects(importPKCS12(new Uint8Array([1, 2, 3]).buffer, "x", { parseCertificate }), /not a PKCS#12 file/);
});
