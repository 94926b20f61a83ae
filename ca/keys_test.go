package ca

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
)

func TestParseKeyType(t *testing.T) {
	tests := []struct {
		in   string
		want KeyType
		err  error
	}{
		{"", KeyECDSAP256, nil},
		{"ecdsa-p256", KeyECDSAP256, nil},
		{"ECDSA-P384", KeyECDSAP384, nil},
		{"ed25519", KeyEd25519, nil},
		{"rsa-2048", KeyRSA2048, nil},
		{"rsa-3072", KeyRSA3072, nil},
		{"rsa-4096", KeyRSA4096, nil},
		{"rsa-1024", "", ErrUnknownKeyType},
		{"p256", "", ErrUnknownKeyType},
		{"dsa", "", ErrUnknownKeyType},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseKeyType(tt.in)
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Fatalf("ParseKeyType(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
			}
		})
	}
}

func TestGenerateKeyTypes(t *testing.T) {
	check := map[KeyType]func(any) bool{
		KeyECDSAP256: func(k any) bool { e, ok := k.(*ecdsa.PrivateKey); return ok && e.Curve == elliptic.P256() },
		KeyECDSAP384: func(k any) bool { e, ok := k.(*ecdsa.PrivateKey); return ok && e.Curve == elliptic.P384() },
		KeyEd25519:   func(k any) bool { _, ok := k.(ed25519.PrivateKey); return ok },
		KeyRSA2048:   func(k any) bool { r, ok := k.(*rsa.PrivateKey); return ok && r.N.BitLen() == 2048 },
	}
	for kt, ok := range check {
		key, err := GenerateKey(kt, nil)
		if err != nil || !ok(key) {
			t.Errorf("GenerateKey(%s) = %T, %v", kt, key, err)
		}
	}
	if _, err := GenerateKey("rsa-1024", nil); !errors.Is(err, ErrUnknownKeyType) {
		t.Errorf("GenerateKey(rsa-1024) err = %v, want ErrUnknownKeyType", err)
	}
}

func TestKeyPEMRoundTrip(t *testing.T) {
	for _, kt := range []KeyType{KeyECDSAP256, KeyEd25519, KeyRSA2048} {
		t.Run(string(kt), func(t *testing.T) {
			key, err := GenerateKey(kt, nil)
			if err != nil {
				t.Fatal(err)
			}
			plain, err := EncodeKeyPEM(key, nil)
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := pem.Decode(plain); b == nil || b.Type != "PRIVATE KEY" {
				t.Fatalf("plain key block = %v", b)
			}
			called := false
			got, err := ParseKeyPEM(plain, func() ([]byte, error) { called = true; return nil, nil })
			if err != nil || !publicKeysEqual(got.Public(), key.Public()) {
				t.Fatalf("ParseKeyPEM(plain) = %v", err)
			}
			if called {
				t.Error("passphrase callback called for an unencrypted key")
			}
		})
	}
}

func TestEncryptedKey(t *testing.T) {
	key, err := GenerateKey(KeyECDSAP256, nil)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := EncodeKeyPEM(key, []byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(enc)
	if block == nil || block.Type != "ENCRYPTED PRIVATE KEY" {
		t.Fatalf("encrypted key block = %v", block)
	}
	checkKDFParams(t, block.Bytes)

	got, err := ParseKeyPEM(enc, passphrase("s3cret"))
	if err != nil || !publicKeysEqual(got.Public(), key.Public()) {
		t.Fatalf("ParseKeyPEM(right passphrase) = %v", err)
	}
	errRead := errors.New("terminal closed")
	tests := []struct {
		name string
		pass PassphraseFunc
		want error
	}{
		{"wrong passphrase", passphrase("s3cret!"), ErrWrongPassphrase},
		{"empty passphrase", passphrase(""), ErrWrongPassphrase},
		{"no passphrase source", nil, ErrWrongPassphrase},
		{"passphrase read fails", func() ([]byte, error) { return nil, errRead }, errRead},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseKeyPEM(enc, tt.pass)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("passphrase zeroed after use", func(t *testing.T) {
		buf := []byte("s3cret")
		if _, err := ParseKeyPEM(enc, func() ([]byte, error) { return buf, nil }); err != nil {
			t.Fatal(err)
		}
		if string(buf) != "\x00\x00\x00\x00\x00\x00" {
			t.Errorf("passphrase buffer not cleared: %q", buf)
		}
	})
	if _, err := EncodeKeyPEM(key, []byte{}); err == nil {
		t.Error("EncodeKeyPEM accepted an empty passphrase")
	}
}

// checkKDFParams pins the encryption parameters: PBES2, PBKDF2 with
// HMAC-SHA256, 600k iterations, 16-byte salt, AES-256-CBC.
func checkKDFParams(t *testing.T, der []byte) {
	t.Helper()
	var info struct {
		Algo struct {
			OID    asn1.ObjectIdentifier
			Params struct {
				KDF struct {
					OID    asn1.ObjectIdentifier
					Params struct {
						Salt       []byte
						Iterations int
						PRF        struct{ OID asn1.ObjectIdentifier }
					}
				}
				Cipher struct {
					OID asn1.ObjectIdentifier
					IV  []byte
				}
			}
		}
		Data []byte
	}
	if _, err := asn1.Unmarshal(der, &info); err != nil {
		t.Fatalf("parse EncryptedPrivateKeyInfo: %v", err)
	}
	p := info.Algo.Params
	switch {
	case !info.Algo.OID.Equal(oidPBES2):
		t.Errorf("scheme %v, want PBES2", info.Algo.OID)
	case !p.KDF.OID.Equal(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}):
		t.Errorf("KDF %v, want PBKDF2", p.KDF.OID)
	case !p.KDF.Params.PRF.OID.Equal(asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}):
		t.Errorf("PRF %v, want hmacWithSHA256", p.KDF.Params.PRF.OID)
	case p.KDF.Params.Iterations < 600_000 || len(p.KDF.Params.Salt) < 16:
		t.Errorf("iterations %d, salt %d bytes", p.KDF.Params.Iterations, len(p.KDF.Params.Salt))
	case !p.Cipher.OID.Equal(asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}):
		t.Errorf("cipher %v, want aes256-CBC", p.Cipher.OID)
	}
}

func TestParseKeyPEMBadInput(t *testing.T) {
	key, err := GenerateKey(KeyECDSAP256, nil)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(key.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	// A legacy SEC 1 key from another tool is accepted.
	if _, err := ParseKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}), nil); err != nil {
		t.Errorf("SEC 1 key: %v", err)
	}
	// A key encrypted with something other than PBES2 (here PKCS#12's
	// pbeWithSHAAnd3-KeyTripleDES-CBC) is reported as unsupported, not as a
	// wrong passphrase.
	legacy, err := asn1.Marshal(encryptedPrivateKeyInfo{
		Algorithm:     pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 3}},
		EncryptedData: []byte{1, 2, 3},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, pem string }{
		{"no PEM", "not a key"},
		{"certificate block", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}))},
		{"garbage PKCS#8", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{0x30, 0}}))},
		{"garbage encrypted", string(pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{0x30, 0}}))},
		{"non-PBES2 encrypted", string(pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: legacy}))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseKeyPEM([]byte(tt.pem), passphrase("pw"))
			if err == nil || errors.Is(err, ErrWrongPassphrase) {
				t.Fatalf("err = %v, want a parse error that is not ErrWrongPassphrase", err)
			}
		})
	}
}

func TestLoadKeyFile(t *testing.T) {
	key, err := GenerateKey(KeyEd25519, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := EncodeKeyPEM(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "k.pem")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LoadKeyFile(path, nil)
	if err != nil || !publicKeysEqual(got.Public(), key.Public()) {
		t.Fatalf("LoadKeyFile = %v", err)
	}
	if _, err := LoadKeyFile(path+".missing", nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file err = %v", err)
	}
}

func TestCheckPublicKeyRSABounds(t *testing.T) {
	modulus := func(bits int) *big.Int {
		return new(big.Int).SetBit(new(big.Int).SetBit(big.NewInt(1), bits-1, 1), 0, 1)
	}
	cases := []struct {
		name string
		key  *rsa.PublicKey
		ok   bool
	}{
		{"2048 bits, F4", &rsa.PublicKey{N: modulus(2048), E: 65537}, true},
		{"8192 bits, F4", &rsa.PublicKey{N: modulus(8192), E: 65537}, true},
		{"1024 bits", &rsa.PublicKey{N: modulus(1024), E: 65537}, false},
		{"8200 bits", &rsa.PublicKey{N: modulus(8200), E: 65537}, false},
		{"16384 bits", &rsa.PublicKey{N: modulus(16384), E: 65537}, false},
		{"exponent 3", &rsa.PublicKey{N: modulus(2048), E: 3}, false},
		{"exponent 65539", &rsa.PublicKey{N: modulus(2048), E: 65539}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := checkPublicKey(c.key); (err == nil) != c.ok {
				t.Errorf("checkPublicKey = %v, want ok=%v", err, c.ok)
			}
		})
	}
}
