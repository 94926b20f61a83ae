package migrations

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// upDown splits a goose SQL file into its Up and Down sections.
func upDown(t *testing.T, name, body string) (up, down string) {
	t.Helper()
	_, rest, ok := strings.Cut(body, "-- +goose Up")
	up, down, ok2 := strings.Cut(rest, "-- +goose Down")
	if !ok || !ok2 {
		t.Fatalf("%s: want an Up section followed by a Down section", name)
	}
	return up, down
}

var (
	createdRe = regexp.MustCompile(`(?i)CREATE\s+(?:UNIQUE\s+)?(TABLE|INDEX)\s+(\w+)(?:\s+ON\s+(\w+))?`)
	droppedRe = regexp.MustCompile(`(?i)DROP\s+(TABLE|INDEX)\s+(\w+)`)
	tableRe   = regexp.MustCompile(`(?is)CREATE\s+TABLE\s+\w+\s*\(.*?\n\)([^;]*);`)
)

func TestEveryMigrationDownDropsWhatUpCreates(t *testing.T) {
	for _, d := range Dialects {
		fsys, err := FS(d)
		if err != nil {
			t.Fatal(err)
		}
		names, _ := fs.Glob(fsys, "*.sql")
		for _, name := range names {
			body, _ := fs.ReadFile(fsys, name)
			up, down := upDown(t, d+"/"+name, string(body))
			dropped := map[string]bool{}
			for _, m := range droppedRe.FindAllStringSubmatch(down, -1) {
				dropped[strings.ToUpper(m[1])+" "+m[2]] = true
			}
			created := createdRe.FindAllStringSubmatch(up, -1)
			for _, m := range created {
				// An index goes with its table.
				if key := strings.ToUpper(m[1]) + " " + m[2]; !dropped[key] && !dropped["TABLE "+m[3]] {
					t.Errorf("%s/%s: Down does not drop %s", d, name, key)
				}
			}
			if len(created) == 0 {
				t.Errorf("%s/%s: Up creates nothing this test recognises", d, name)
			}
		}
	}
}

func TestEveryMySQLTableIsInnoDBUTF8MB4(t *testing.T) {
	fsys, err := FS(MySQL)
	if err != nil {
		t.Fatal(err)
	}
	names, _ := fs.Glob(fsys, "*.sql")
	for _, name := range names {
		body, _ := fs.ReadFile(fsys, name)
		for _, bad := range []string{"0000-00-00", "MyISAM", "utf8mb3", "CHARSET=utf8 "} {
			if strings.Contains(string(body), bad) {
				t.Errorf("%s contains %q", name, bad)
			}
		}
		tables := tableRe.FindAllStringSubmatch(string(body), -1)
		if strings.Contains(string(body), "CREATE TABLE") && len(tables) == 0 {
			t.Errorf("%s: no CREATE TABLE statement recognised", name)
		}
		for _, m := range tables {
			if opts := m[1]; !strings.Contains(opts, "ENGINE=InnoDB") || !strings.Contains(opts, "CHARSET=utf8mb4") {
				t.Errorf("%s: table options %q, want ENGINE=InnoDB and CHARSET=utf8mb4", name, strings.TrimSpace(opts))
			}
		}
	}
}
