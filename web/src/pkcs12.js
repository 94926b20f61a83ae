// PKCS#12 import (the alternative to enrolment for a certificate made on
// the CA host with `scca export --p12`). PKI.js parses every structure and
// checks the MAC; WebCrypto does the PBKDF2 and AES-CBC of the PBES2 bags
// that go-pkcs12's Modern2023 encoder writes. The private key is imported
// non-extractable and the decrypted PKCS#8 bytes are zeroed at once.
import * as pkijs from "pkijs";

const subtle = globalThis.crypto.subtle;

const BAG_KEY = "1.2.840.113549.1.12.10.1.2"; // pkcs8ShroudedKeyBag
const BAG_CERT = "1.2.840.113549.1.12.10.1.3"; // certBag
const CERT_X509 = "1.2.840.113549.1.9.22.1"; // x509Certificate in a certBag
const EC_P256 = { name: "ECDSA", namedCurve: "P-256" };

// WrongPassword is thrown when the file's MAC does not verify: a wrong
// password, or a damaged file (the two cannot be told apart).
export class WrongPassword extends Error {
  constructor() {
    super("wrong password, or the file is damaged");
    this.name = "WrongPassword";
  }
}

// utf8 is how the password goes into PBKDF2 (RFC 8018 leaves it open;
// OpenSSL and go-pkcs12 use UTF-8) and into PKI.js's MAC derivation.
function utf8(s) {
  return new TextEncoder().encode(s).buffer;
}

function toPEM(der) {
  const b64 = btoa(String.fromCharCode(...new Uint8Array(der)));
  return `-----BEGIN CERTIFICATE-----\n${b64.replace(/.{1,64}/g, "$&\n")}-----END CERTIFICATE-----\n`;
}

// parse opens the file: MAC check, then every safe (password-encrypted or
// not), then the key bag. It returns the PKCS#8 key and the certificates'
// DER, in file order.
async function parse(buf, password) {
  let pfx;
  try {
    pfx = pkijs.PFX.fromBER(buf);
  } catch {
    throw new Error("not a PKCS#12 file");
  }
  const pw = utf8(password);
  try {
    await pfx.parseInternalValues({ password: pw, checkIntegrity: true });
  } catch (e) {
    if (/integrity/i.test(String(e?.message))) throw new WrongPassword();
    throw new Error("unsupported PKCS#12 file (scca export --p12 writes one this page reads)");
  }
  const safe = pfx.parsedValue?.authenticatedSafe;
  if (!safe) throw new Error("unsupported PKCS#12 file: no password MAC");
  await safe.parseInternalValues({ safeContents: safe.safeContents.map(() => ({ password: pw })) });
  let keyDER = null;
  const certs = [];
  for (const sc of safe.parsedValue.safeContents) {
    for (const bag of sc.value.safeBags) {
      if (bag.bagId === BAG_KEY) {
        if (keyDER) throw new Error("the file holds more than one private key");
        await bag.bagValue.parseInternalValues({ password: pw });
        keyDER = new Uint8Array(bag.bagValue.parsedValue.toSchema().toBER(false));
      } else if (bag.bagId === BAG_CERT && bag.bagValue.certId === CERT_X509) {
        certs.push(bag.bagValue.parsedValue.toSchema().toBER(false));
      }
    }
  }
  if (!keyDER) throw new Error("the file holds no private key");
  if (certs.length === 0) throw new Error("the file holds no certificate");
  return { keyDER, certs };
}

// importPKCS12 reads a `scca export --p12` file and returns the identity
// the page keeps: a non-extractable ECDSA P-256 private key, the public key
// of the certificate that matches it, and the chain (leaf first, then the
// other certificates in the file except self-signed roots) as PEM.
// parseCertificate is pki.js's (kept out of this module for the node tests).
export async function importPKCS12(buf, password, { parseCertificate }) {
  const { keyDER, certs } = await parse(buf, password);
  let privateKey;
  try {
    privateKey = await subtle.importKey("pkcs8", keyDER, EC_P256, false, ["sign"]);
  } catch {
    throw new Error("the key in the file is not ECDSA P-256, the only kind this page signs with");
  } finally {
    keyDER.fill(0);
  }
  const parsed = certs.map((der) => ({ der, cert: parseCertificate(der) }));
  // The leaf is the certificate whose key signs what the private key signs.
  const probe = globalThis.crypto.getRandomValues(new Uint8Array(32));
  const params = { name: "ECDSA", hash: "SHA-256" };
  const sig = await subtle.sign(params, privateKey, probe);
  let leaf = null;
  for (const p of parsed) {
    if (p.cert.publicKey.algorithm.name !== "ECDSA") continue;
    const pub = await p.cert.publicKey.export(EC_P256, ["verify"]);
    if (await subtle.verify(params, pub, sig, probe)) {
      leaf = { ...p, publicKey: pub };
      break;
    }
  }
  if (!leaf) throw new Error("no certificate in the file matches its private key");
  const rest = parsed.filter((p) => p.der !== leaf.der && p.cert.subject !== p.cert.issuer).slice(0, 3);
  const chain = [leaf, ...rest].map((p) => toPEM(p.der)).join("");
  return { privateKey, publicKey: leaf.publicKey, chain, leaf: leaf.cert };
}
