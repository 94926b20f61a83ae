package inventory

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// CRLReason codes, RFC 5280 §5.3.1. Code 7 is unassigned.
const (
	ReasonUnspecified          = 0
	ReasonKeyCompromise        = 1
	ReasonCACompromise         = 2
	ReasonAffiliationChanged   = 3
	ReasonSuperseded           = 4
	ReasonCessationOfOperation = 5
	ReasonCertificateHold      = 6
	ReasonRemoveFromCRL        = 8
	ReasonPrivilegeWithdrawn   = 9
	ReasonAACompromise         = 10
)

var reasonNames = map[int]string{
	ReasonUnspecified:          "unspecified",
	ReasonKeyCompromise:        "keyCompromise",
	ReasonCACompromise:         "cACompromise",
	ReasonAffiliationChanged:   "affiliationChanged",
	ReasonSuperseded:           "superseded",
	ReasonCessationOfOperation: "cessationOfOperation",
	ReasonCertificateHold:      "certificateHold",
	ReasonRemoveFromCRL:        "removeFromCRL",
	ReasonPrivilegeWithdrawn:   "privilegeWithdrawn",
	ReasonAACompromise:         "aACompromise",
}

// ReasonName returns the RFC 5280 name of a CRLReason code, or
// "reason(N)" for a code RFC 5280 does not define.
func ReasonName(code int) string {
	if n, ok := reasonNames[code]; ok {
		return n
	}
	return "reason(" + strconv.Itoa(code) + ")"
}

// ParseReason accepts an RFC 5280 reason name (case-insensitive) or its
// decimal code. removeFromCRL is refused: it only has meaning in delta CRLs,
// and a revocation recorded with it would be self-contradictory.
func ParseReason(name string) (int, error) {
	code, ok := -1, false
	if n, err := strconv.Atoi(name); err == nil {
		_, ok = reasonNames[n]
		code = n
	} else {
		for c, n := range reasonNames {
			if strings.EqualFold(n, name) {
				code, ok = c, true
				break
			}
		}
	}
	if !ok {
		return 0, fmt.Errorf("unknown revocation reason %q (want one of %s)", name, reasonList())
	}
	if code == ReasonRemoveFromCRL {
		return 0, errors.New("revocation reason removeFromCRL is only meaningful in delta CRLs and cannot be recorded")
	}
	return code, nil
}

// ValidReason reports whether code may be recorded for a revocation.
func ValidReason(code int) bool {
	_, ok := reasonNames[code]
	return ok && code != ReasonRemoveFromCRL
}

func reasonList() string {
	var names []string
	for _, c := range []int{0, 1, 2, 3, 4, 5, 6, 9, 10} {
		names = append(names, reasonNames[c])
	}
	return strings.Join(names, ", ")
}

// maxSerialHexDigits is RFC 5280 §4.1.2.2's 20-octet limit on serials.
const maxSerialHexDigits = 40

// NormalizeSerial turns a serial as people write it ("0A:1b:..", "0x0a1b",
// "0A1B") into the inventory's form: lower-case hex without separators or
// leading zeros ("a1b"). A serial of zero normalizes to "0".
func NormalizeSerial(s string) (string, error) {
	t := strings.TrimSpace(s)
	if p, ok := strings.CutPrefix(strings.ToLower(t), "0x"); ok {
		t = p
	}
	t = strings.ToLower(strings.ReplaceAll(t, ":", ""))
	if t == "" {
		return "", fmt.Errorf("empty certificate serial %q", s)
	}
	for _, c := range t {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", fmt.Errorf("certificate serial %q is not hexadecimal", s)
		}
	}
	t = strings.TrimLeft(t, "0")
	if t == "" {
		t = "0"
	}
	if len(t) > maxSerialHexDigits {
		return "", fmt.Errorf("certificate serial %q is longer than 20 octets", s)
	}
	return t, nil
}
