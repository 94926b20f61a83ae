package revocation

import (
	"bytes"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/securechat/scca/certstore"
)

// referenceEntry encodes a revokedCertificates element with cryptobyte and
// math/big, independently of appendEntry's hand encoding.
func referenceEntry(t *testing.T, e certstore.RevokedEntry) []byte {
	t.Helper()
	serial, ok := new(big.Int).SetString(e.Serial, 16)
	if !ok {
		t.Fatalf("bad test serial %q", e.Serial)
	}
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1BigInt(serial)
		at := e.RevokedAt.UTC().Truncate(time.Second)
		if at.Year() >= 1950 && at.Year() < 2050 {
			b.AddASN1UTCTime(at)
		} else {
			b.AddASN1GeneralizedTime(at)
		}
		if e.Reason > 0 {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				addExtension(b, oidExtReasonCode, func(b *cryptobyte.Builder) { b.AddASN1Enum(int64(e.Reason)) })
			})
		}
	})
	return b.BytesOrPanic()
}

func TestAppendEntryMatchesReference(t *testing.T) {
	serials := []string{"1", "7f", "80", "ff", "100", "0080", "00ff01", "ABCDEF", "5c" + strings.Repeat("0", 30) + "1",
		strings.Repeat("f", 40), strings.Repeat("9", 64), strings.Repeat("8", 300)}
	times := []time.Time{
		time.Date(1949, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 25, 17, 59, 5, 999_999_000, time.FixedZone("x", 3600)),
		time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
	}
	var dst, scratch []byte
	for _, s := range serials {
		for _, at := range times {
			for reason := 0; reason <= 10; reason++ {
				e := certstore.RevokedEntry{Serial: s, RevokedAt: at, Reason: reason}
				var err error
				start := len(dst)
				dst, scratch, err = appendEntry(dst, scratch, e)
				if err != nil {
					t.Fatalf("appendEntry(%+v): %v", e, err)
				}
				if want := referenceEntry(t, e); !bytes.Equal(dst[start:], want) {
					t.Fatalf("appendEntry(%+v) =\n%x\nwant\n%x", e, dst[start:], want)
				}
			}
		}
	}
}

func TestAppendEntryRefusesBadValues(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, s := range []string{"", "0", "000", "xyz", "12g", "-5", "+5", "0x12", "1 2"} {
		_, _, err := appendEntry(nil, nil, certstore.RevokedEntry{Serial: s, RevokedAt: at})
		if !errors.Is(err, ErrMalformedSerial) {
			t.Errorf("serial %q: err = %v, want ErrMalformedSerial", s, err)
		}
	}
	for _, e := range []certstore.RevokedEntry{
		{Serial: "1", RevokedAt: at, Reason: -1},
		{Serial: "1", RevokedAt: at, Reason: 200},
		{Serial: "1", RevokedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if dst, _, err := appendEntry(nil, nil, e); err == nil || len(dst) != 0 {
			t.Errorf("appendEntry(%+v) = %x, %v; want an error and nothing appended", e, dst, err)
		}
	}
}
