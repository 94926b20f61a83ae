// Certificate checks of the browser client (docs/PROTOCOL.md §7.3) with
// @peculiar/x509 for every ASN.1 structure and WebCrypto for signatures:
// the server's chain must lead to the pinned root, its leaf must have
// serverAuth, match the server name, not be a CA, and be valid now.
import "reflect-metadata"; // tsyringe, used inside @peculiar/x509, needs it
import * as x509 from "@peculiar/x509";
import { ProtocolError } from "./wire.js";

const subtle = globalThis.crypto.subtle;
const EKU_SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const MAX_CHAIN = 4;

export class CertificateError extends ProtocolError {
  constructor(message) {
    super(message, "certificate_rejected");
    this.name = "CertificateError";
  }
}

// parsePEMChain parses a certificate field: 1–4 CERTIFICATE blocks (§4.1).
export function parsePEMChain(pem) {
  let ders;
  try {
    ders = x509.PemConverter.decodeWithHeaders(pem);
  } catch {
    throw new ProtocolError("certificate field is not PEM");
  }
  if (ders.length === 0 || ders.length > MAX_CHAIN || ders.some((d) => d.type !== "CERTIFICATE")) {
    throw new ProtocolError("certificate field must hold 1 to 4 CERTIFICATE blocks");
  }
  try {
    return ders.map((d) => new x509.X509Certificate(d.rawData));
  } catch {
    throw new CertificateError("certificate does not parse");
  }
}

export function parseCertificate(pemOrDER) {
  return new x509.X509Certificate(pemOrDER);
}

function isCA(cert) {
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  return !!(bc && bc.ca);
}

function checkValidity(cert, now, what) {
  if (now < cert.notBefore || now > cert.notAfter) {
    throw new CertificateError(`${what} certificate is outside its validity period`);
  }
}

function sameCert(a, b) {
  const x = new Uint8Array(a.rawData);
  const y = new Uint8Array(b.rawData);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

// matchesName: DNS SAN (case-insensitive, exact) or IP SAN, like Go's
// VerifyHostname for the names scca issues.
export function matchesName(cert, name) {
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  if (!san) return false;
  const want = name.replace(/^\[|\]$/g, "").toLowerCase();
  return san.names.items.some((n) => {
    if (n.type === "dns") return n.value.toLowerCase() === want;
    if (n.type === "ip") return n.value.toLowerCase() === want;
    return false;
  });
}

// verifyServerChain checks a server_certificate field against the pinned
// roots and returns the leaf. Certificates after the leaf are used only as
// intermediates below a pinned root (§7.3).
export async function verifyServerChain(pem, { roots, serverName, now = new Date() }) {
  const chain = parsePEMChain(pem);
  const leaf = chain[0];
  checkValidity(leaf, now, "server");
  if (isCA(leaf)) throw new CertificateError("server certificate is a CA");
  const eku = leaf.getExtension(x509.ExtendedKeyUsageExtension);
  if (!eku || !eku.usages.includes(EKU_SERVER_AUTH)) {
    throw new CertificateError("server certificate lacks the serverAuth extended key usage");
  }
  if (!matchesName(leaf, serverName)) {
    throw new CertificateError(`server certificate is not valid for ${serverName}`);
  }
  if (!(await chainsTo(leaf, chain.slice(1), roots, now))) {
    throw new CertificateError("server certificate does not chain to the pinned root");
  }
  return leaf;
}

// chainsTo searches a path from cert through intermediates to one of the
// roots (depth-first, at most MAX_CHAIN certificates), checking each
// signature, that each issuer is a valid CA, and the names.
async function chainsTo(cert, intermediates, roots, now, depth = 1) {
  for (const root of roots) {
    if (await issuedBy(cert, root, now)) return true;
  }
  if (depth >= MAX_CHAIN) return false;
  for (const ic of intermediates) {
    if (sameCert(ic, cert) || !(await issuedBy(cert, ic, now))) continue;
    if (await chainsTo(ic, intermediates, roots, now, depth + 1)) return true;
  }
  return false;
}

async function issuedBy(cert, issuer, now) {
  if (cert.issuer !== issuer.subject || !isCA(issuer)) return false;
  if (now < issuer.notBefore || now > issuer.notAfter) return false;
  const ku = issuer.getExtension(x509.KeyUsagesExtension);
  if (ku && !(ku.usages & x509.KeyUsageFlags.keyCertSign)) return false;
  try {
    return await cert.verify({ publicKey: issuer.publicKey, signatureOnly: true });
  } catch {
    return false;
  }
}

// signatureVerifier returns verify(content, derOrRawSig) for the leaf's
// key with the scheme of §5.3: ECDSA with the curve's hash (ASN.1 DER
// signatures), Ed25519, or RSA-PSS SHA-256 with a 32-byte salt.
export async function signatureVerifier(cert) {
  const alg = cert.publicKey.algorithm;
  if (alg.name === "ECDSA") {
    const hash = { "P-256": "SHA-256", "P-384": "SHA-384", "P-521": "SHA-512" }[alg.namedCurve];
    if (!hash) throw new CertificateError(`unsupported curve ${alg.namedCurve}`);
    const key = await cert.publicKey.export({ name: "ECDSA", namedCurve: alg.namedCurve }, ["verify"]);
    const params = { name: "ECDSA", hash, namedCurve: alg.namedCurve };
    return async (content, sig) => {
      const raw = new x509.AsnEcSignatureFormatter().toWebSignature(params, sig);
      return raw !== null && subtle.verify(params, key, raw, content);
    };
  }
  if (alg.name === "Ed25519") {
    const key = await cert.publicKey.export({ name: "Ed25519" }, ["verify"]);
    return (content, sig) => subtle.verify({ name: "Ed25519" }, key, sig, content);
  }
  if (alg.name === "RSASSA-PKCS1-v1_5" || alg.name === "RSA-PSS") {
    const key = await cert.publicKey.export({ name: "RSA-PSS", hash: "SHA-256" }, ["verify"]);
    return (content, sig) => subtle.verify({ name: "RSA-PSS", saltLength: 32 }, key, sig, content);
  }
  throw new CertificateError(`unsupported server key type ${alg.name}`);
}

// ecdsaSigner signs with a (non-extractable) ECDSA P-256 CryptoKey and
// returns the ASN.1 DER signature the protocol carries (§5.3).
export function ecdsaSigner(privateKey) {
  const params = { name: "ECDSA", hash: "SHA-256", namedCurve: "P-256" };
  return async (content) => {
    const raw = await subtle.sign(params, privateKey, content);
    return new Uint8Array(new x509.AsnEcSignatureFormatter().toAsnSignature(params, raw));
  };
}

// newBrowserKey generates the user's certificate key: ECDSA P-256 whose
// private half cannot be exported from the browser.
export function newBrowserKey() {
  return subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
}

// buildCSR makes a PKCS#10 request for CN signed with the key pair.
export async function buildCSR(cn, keys) {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [cn] }],
    keys,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
  });
  return csr.toString("pem");
}

// publicKeyMatches reports whether cert certifies the public key pub.
export async function publicKeyMatches(cert, pub) {
  const a = new Uint8Array(cert.publicKey.rawData);
  const b = new Uint8Array(await subtle.exportKey("spki", pub));
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

export function commonName(cert) {
  return cert.subjectName.getField("CN")[0] ?? "";
}

export async function fingerprint(cert) {
  const d = new Uint8Array(await subtle.digest("SHA-256", cert.rawData));
  return Array.from(d, (x) => x.toString(16).padStart(2, "0").toUpperCase()).join(":");
}
