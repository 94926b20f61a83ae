package ca

import (
	"errors"
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestCheckCN(t *testing.T) {
	tests := []struct {
		name string
		cn   string
		ok   bool
	}{
		{"plain", "client123", true},
		{"spaces inside", "SecureChat Root CA", true},
		{"64 chars", strings.Repeat("a", 64), true},
		{"64 runes of UTF-8", strings.Repeat("é", 64), true},
		{"empty", "", false},
		{"65 chars", strings.Repeat("a", 65), false},
		{"leading space", " alice", false},
		{"trailing space", "alice ", false},
		{"newline", "ali\nce", false},
		{"NUL", "ali\x00ce", false},
		{"escape", "ali\x1bce", false},
		{"DEL", "ali\x7fce", false},
		{"invalid UTF-8", "ali\xffce", false},
		{"bidi override", "ali\u202ece", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkCN(tt.cn)
			if tt.ok && err != nil {
				t.Fatalf("checkCN(%q) = %v", tt.cn, err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalidName) {
				t.Fatalf("checkCN(%q) = %v, want ErrInvalidName", tt.cn, err)
			}
		})
	}
}

func TestNormalizeDNSName(t *testing.T) {
	long63 := strings.Repeat("a", 63)
	tests := []struct {
		in, want string // want "" = invalid
	}{
		{"chat.example.com", "chat.example.com"},
		{"Chat.Example.COM", "chat.example.com"},
		{"localhost", "localhost"},
		{"host.", "host"},
		{"a-b.c-d.example", "a-b.c-d.example"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example"},
		{"1.2.3.4a", "1.2.3.4a"},
		{long63 + ".example", long63 + ".example"},
		{"", ""},
		{".", ""},
		{".example.com", ""},
		{"a..b", ""},
		{"-a.example", ""},
		{"a-.example", ""},
		{"ab--c.example", ""},
		{"a_b.example", ""},
		{"a b.example", ""},
		{"*.example.com", ""},
		{"exa\x00mple.com", ""},
		{"bücher.example", ""},
		{"1.2.3.4", ""},
		{"host.123", ""},
		{long63 + "a.example", ""},
		{strings.Repeat("abcdefghi.", 25) + "abcd", ""}, // 254 characters
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := normalizeDNSName(tt.in)
			if tt.want == "" {
				if !errors.Is(err, ErrInvalidName) {
					t.Fatalf("normalizeDNSName(%q) = %q, %v; want ErrInvalidName", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("normalizeDNSName(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
	// 253 characters is the limit, and allowed.
	max := strings.Repeat("abcdefghi.", 25) + "abc"
	if _, err := normalizeDNSName(max); err != nil || len(max) != 253 {
		t.Errorf("253-character name: %v", err)
	}
}

func TestParseIP(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" = invalid
		len  int
	}{
		{"127.0.0.1", "127.0.0.1", 4},
		{"::ffff:10.0.0.1", "10.0.0.1", 4},
		{"::1", "::1", 16},
		{"2001:db8::1", "2001:db8::1", 16},
		{"0.0.0.0", "", 0},
		{"::", "", 0},
		{"256.1.1.1", "", 0},
		{"localhost", "", 0},
		{"", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			ip, err := ParseIP(tt.in)
			if tt.want == "" {
				if !errors.Is(err, ErrInvalidName) {
					t.Fatalf("ParseIP(%q) = %v, %v; want ErrInvalidName", tt.in, ip, err)
				}
				return
			}
			if err != nil || ip.String() != tt.want || len(ip) != tt.len {
				t.Fatalf("ParseIP(%q) = %v (len %d), %v", tt.in, ip, len(ip), err)
			}
		})
	}
	if _, err := normalizeIP(net.IP{1, 2, 3}); !errors.Is(err, ErrInvalidName) {
		t.Errorf("3-byte IP: %v", err)
	}
}

func TestSubjectAltNames(t *testing.T) {
	lo := net.ParseIP("127.0.0.1")
	tests := []struct {
		name     string
		p        Profile
		cn       string
		dns      []string
		ips      []net.IP
		wantDNS  []string
		wantIPs  []string
		wantFail bool
	}{
		{"server CN is a host", ProfileServer, "chat.example", nil, nil, []string{"chat.example"}, nil, false},
		{"server CN upper case, dup SAN", ProfileServer, "Chat.Example", []string{"chat.example", "alt.example"}, nil,
			[]string{"chat.example", "alt.example"}, nil, false},
		{"server CN is an IP", ProfileServer, "127.0.0.1", nil, []net.IP{lo, lo.To16()}, nil, []string{"127.0.0.1"}, false},
		{"server CN not a host, SANs given", ProfileServer, "Chat Server", []string{"chat.example"}, nil,
			[]string{"chat.example"}, nil, false},
		{"server without any host name", ProfileServer, "Chat Server", nil, nil, nil, nil, true},
		{"server with bad DNS SAN", ProfileServer, "chat.example", []string{"bad_name"}, nil, nil, nil, true},
		{"server with bad IP SAN", ProfileServer, "chat.example", nil, []net.IP{net.IPv4zero}, nil, nil, true},
		{"client CN is never a SAN", ProfileClient, "client123", nil, nil, nil, nil, false},
		{"client explicit SANs kept", ProfileClient, "client123", []string{"dev1.example"}, []net.IP{lo}, []string{"dev1.example"}, []string{"127.0.0.1"}, false},
		{"client bad DNS SAN", ProfileClient, "client123", []string{"-x"}, nil, nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dns, ips, err := subjectAltNames(tt.p, tt.cn, tt.dns, tt.ips)
			if tt.wantFail {
				if !errors.Is(err, ErrInvalidName) {
					t.Fatalf("err = %v, want ErrInvalidName", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var gotIPs []string
			for _, ip := range ips {
				gotIPs = append(gotIPs, ip.String())
			}
			if !slices.Equal(dns, tt.wantDNS) || !slices.Equal(gotIPs, tt.wantIPs) {
				t.Fatalf("got %v %v, want %v %v", dns, gotIPs, tt.wantDNS, tt.wantIPs)
			}
		})
	}
}

func TestFileStem(t *testing.T) {
	tests := map[string]string{
		"client123":        "client123",
		"chat.example.com": "chat.example.com",
		"../../etc/passwd": "%2E.%2F..%2Fetc%2Fpasswd",
		".hidden":          "%2Ehidden",
		"Alice Smith":      "Alice%20Smith",
		"team/alice":       "team%2Falice",
		"team_alice":       "team_alice",
		"élan/x":           "%C3%A9lan%2Fx",
		"100%":             "100%25",
		"-rf":              "%2Drf",
		"a-b":              "a-b",
	}
	for in, want := range tests {
		if got := FileStem(in); got != want {
			t.Errorf("FileStem(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestFileStemCollisionFree: names that the old lossy mapping collapsed
// (every non-ASCII letter became '_') get distinct files, and the mapping is
// reversible.
func TestFileStemCollisionFree(t *testing.T) {
	names := []string{"élan", "èlan", "_lan", "%C3%A9lan", "team/alice", "team_alice", "team%2Falice", "жанна", "жанни", "a b", "a_b"}
	seen := map[string]string{}
	for _, n := range names {
		s := FileStem(n)
		if other, ok := seen[s]; ok {
			t.Errorf("%q and %q share the file stem %q", n, other, s)
		}
		seen[s] = n
		back, err := url.PathUnescape(s)
		if err != nil || back != n {
			t.Errorf("FileStem(%q) = %q does not decode back (got %q, %v)", n, s, back, err)
		}
		if strings.ContainsAny(s, "/\\") || strings.HasPrefix(s, ".") {
			t.Errorf("FileStem(%q) = %q is not a plain file name", n, s)
		}
	}
}
