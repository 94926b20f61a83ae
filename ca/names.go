package ca

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrInvalidName is returned for a common name, DNS name or IP address that
// may not appear in a certificate.
var ErrInvalidName = errors.New("invalid name")

// ErrNoHostName is returned for a server certificate with neither a DNS
// name nor an IP address; it matches ErrInvalidName.
var ErrNoHostName = fmt.Errorf("%w: a server certificate needs a DNS name or IP address", ErrInvalidName)

// maxCNLength is ub-common-name from RFC 5280 Appendix A.1, in characters.
const maxCNLength = 64

// checkCN validates a subject common name: non-empty, at most 64 characters,
// valid UTF-8, printable, no control characters, and no leading or trailing
// white space (which zlint flags and which makes names that look equal
// differ).
func checkCN(cn string) error {
	switch {
	case cn == "":
		return fmt.Errorf("%w: common name is empty", ErrInvalidName)
	case !utf8.ValidString(cn):
		return fmt.Errorf("%w: common name is not valid UTF-8", ErrInvalidName)
	case utf8.RuneCountInString(cn) > maxCNLength:
		return fmt.Errorf("%w: common name is longer than %d characters", ErrInvalidName, maxCNLength)
	case strings.TrimSpace(cn) != cn:
		return fmt.Errorf("%w: common name %q has leading or trailing space", ErrInvalidName, cn)
	}
	for _, r := range cn {
		if unicode.IsControl(r) || !unicode.IsPrint(r) || r == utf8.RuneError {
			return fmt.Errorf("%w: common name %q contains a non-printable character", ErrInvalidName, cn)
		}
	}
	return nil
}

// normalizeDNSName validates a DNS name and returns it in lower case. It
// accepts host names made of RFC 1035 LDH labels (letters, digits, hyphen;
// 1-63 octets; no leading or trailing hyphen) of at most 253 octets in all,
// with an optional single trailing dot removed. Following RFC 5891 §4.2.3.1,
// a hyphen in both the third and fourth position is only allowed in an
// "xn--" A-label (internationalized names must be given in their ASCII
// form; they are passed through as given). A final label that is all digits
// is refused so that a mistyped IP address is never taken for a name.
// Wildcards are not supported: scca certifies individual hosts.
func normalizeDNSName(name string) (string, error) {
	n := strings.ToLower(strings.TrimSuffix(name, "."))
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%w: DNS name %q: %s", ErrInvalidName, name, why)
	}
	if n == "" {
		return bad("empty")
	}
	if len(n) > 253 {
		return bad("longer than 253 characters")
	}
	labels := strings.Split(n, ".")
	for _, l := range labels {
		if why := checkLabel(l); why != "" {
			return bad(why)
		}
	}
	if isDigits(labels[len(labels)-1]) {
		return bad("top-level label is numeric")
	}
	return n, nil
}

// checkLabel returns why l is not a valid lower-case LDH label, or "".
func checkLabel(l string) string {
	switch {
	case l == "":
		return "empty label"
	case len(l) > 63:
		return "label longer than 63 characters"
	case l[0] == '-' || l[len(l)-1] == '-':
		return "label starts or ends with a hyphen"
	case len(l) >= 4 && l[2:4] == "--" && !strings.HasPrefix(l, "xn--"):
		return "label has '--' in positions 3-4 (reserved for A-labels)"
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Sprintf("character %q is not a letter, digit or hyphen", c)
		}
	}
	return ""
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// normalizeIP validates an IP address for a certificate: it must be a
// 4- or 16-byte address and not the unspecified address. IPv4 addresses are
// returned in their 4-byte form so they encode as 4 octets (RFC 5280
// §4.2.1.6) and compare equal however they were parsed.
func normalizeIP(ip net.IP) (net.IP, error) {
	if len(ip) != net.IPv4len && len(ip) != net.IPv6len {
		return nil, fmt.Errorf("%w: IP address %v has length %d", ErrInvalidName, []byte(ip), len(ip))
	}
	if ip.IsUnspecified() {
		return nil, fmt.Errorf("%w: IP address %s is unspecified", ErrInvalidName, ip)
	}
	if v4 := ip.To4(); v4 != nil {
		return v4, nil
	}
	return ip, nil
}

// ParseIP parses a textual IP address for use as a SAN, with the same rules
// as IssueRequest.IPs.
func ParseIP(s string) (net.IP, error) {
	ip := net.ParseIP(s)
	if ip == nil {
		return nil, fmt.Errorf("%w: %q is not an IP address", ErrInvalidName, s)
	}
	return normalizeIP(ip)
}

// subjectAltNames validates and de-duplicates the requested DNS and IP
// names under p's SAN policy. For sanHost (server), the CN is added as a SAN
// when it is a DNS name or an IP address, because TLS clients match only
// SANs (RFC 6125 §6.4.4) and zlint's community lints expect the CN to be
// among them.
//
// For sanExplicit (client) the CN is an identity (a user or device name such
// as "client123"), not a host, so it is never copied into the SANs: doing
// so would assert a DNS name nobody owns. Explicit DNS/IP SANs are kept when
// asked for. No lint in the RFC 5280 / Community sets requires client
// certificates to repeat the CN as a SAN, and a subject with a CN makes an
// absent SAN extension valid (RFC 5280 §4.2.1.6).
//
// sanNone and sanEmailCN refuse DNS and IP names: an OCSP signer names a
// service, an e-mail certificate a mailbox (see emailSANs).
func subjectAltNames(p Profile, cn string, dns []string, ips []net.IP) ([]string, []net.IP, error) {
	row, err := lookupProfile(p)
	if err != nil {
		return nil, nil, err
	}
	if row.sans == sanNone || row.sans == sanEmailCN {
		if len(dns) > 0 || len(ips) > 0 {
			return nil, nil, fmt.Errorf("%w: a %s certificate carries no DNS or IP names", ErrInvalidName, p)
		}
		return nil, nil, nil
	}
	var outDNS []string
	var outIPs []net.IP
	addDNS := func(n string) {
		for _, d := range outDNS {
			if d == n {
				return
			}
		}
		outDNS = append(outDNS, n)
	}
	addIP := func(ip net.IP) {
		for _, o := range outIPs {
			if o.Equal(ip) {
				return
			}
		}
		outIPs = append(outIPs, ip)
	}
	if row.sans == sanHost {
		if ip := net.ParseIP(cn); ip != nil {
			if n, err := normalizeIP(ip); err == nil {
				addIP(n)
			}
		} else if n, err := normalizeDNSName(cn); err == nil {
			addDNS(n)
		}
	}
	for _, d := range dns {
		n, err := normalizeDNSName(d)
		if err != nil {
			return nil, nil, err
		}
		addDNS(n)
	}
	for _, ip := range ips {
		n, err := normalizeIP(ip)
		if err != nil {
			return nil, nil, err
		}
		addIP(n)
	}
	if row.sans == sanHost && len(outDNS) == 0 && len(outIPs) == 0 {
		return nil, nil, fmt.Errorf("%w (CN %q is neither)", ErrNoHostName, cn)
	}
	return outDNS, outIPs, nil
}

// emailSANs returns the rfc822Name SANs of a certificate: under sanEmailCN
// the CN, which must be a bare ASCII address (local@domain, no display
// name; rfc822Name is an IA5String, RFC 5280 §4.2.1.6), with the domain a
// valid DNS name. Other policies carry none.
func emailSANs(row profileRow, cn string) ([]string, error) {
	if row.sans != sanEmailCN {
		return nil, nil
	}
	addr, err := mail.ParseAddress(cn)
	if err != nil || addr.Name != "" || addr.Address != cn {
		return nil, fmt.Errorf("%w: an %s certificate needs an e-mail address as its CN, not %q", ErrInvalidName, row.name, cn)
	}
	local, domain, _ := strings.Cut(cn, "@")
	for _, r := range local {
		if r > unicode.MaxASCII {
			return nil, fmt.Errorf("%w: e-mail address %q must be ASCII", ErrInvalidName, cn)
		}
	}
	d, err := normalizeDNSName(domain)
	if err != nil {
		return nil, err
	}
	return []string{local + "@" + d}, nil
}

// FileStem is the one mapping from a common name to the stem of its file
// names (<stem>_cert.pem, <stem>_key.pem) in the certs dir, used by every
// command that writes or reads them. ASCII letters, digits, '-', '_' and a
// '.' or '-' that does not lead pass through (no hidden files, no names
// that read as an option); every other byte (a '/', a space, a
// '%', each byte of a non-ASCII character) becomes %XX. The mapping is
// reversible, so two CNs never share files, and a CN can never name a path
// outside the CA directory or a hidden file.
func FileStem(cn string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(cn); i++ {
		c := cn[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_':
			b.WriteByte(c)
		case (c == '.' || c == '-') && i > 0:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}
