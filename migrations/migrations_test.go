package migrations

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

func TestFSListsSameVersionsPerDialect(t *testing.T) {
	names := map[string][]string{}
	for _, d := range Dialects {
		fsys, err := FS(d)
		if err != nil {
			t.Fatalf("FS(%q): %v", d, err)
		}
		entries, err := fs.ReadDir(fsys, ".")
		if err != nil {
			t.Fatal(err)
		}
		valid := regexp.MustCompile(`^\d{5}_[a-z0-9_]+\.sql$`)
		for _, e := range entries {
			if !valid.MatchString(e.Name()) {
				t.Errorf("%s: file %q does not match NNNNN_name.sql", d, e.Name())
			}
			body, err := fs.ReadFile(fsys, e.Name())
			if err != nil {
				t.Fatal(err)
			}
			for _, marker := range []string{"-- +goose Up", "-- +goose Down"} {
				if !strings.Contains(string(body), marker) {
					t.Errorf("%s/%s: missing %q", d, e.Name(), marker)
				}
			}
			names[d] = append(names[d], e.Name())
		}
		if len(names[d]) == 0 {
			t.Errorf("%s: no migrations", d)
		}
	}
	for _, d := range Dialects {
		if strings.Join(names[d], ",") != strings.Join(names[SQLite], ",") {
			t.Errorf("dialects disagree: %s %v, sqlite %v", d, names[d], names[SQLite])
		}
	}
}

func TestMySQLSchemaIsStrictModeClean(t *testing.T) {
	fsys, err := FS(MySQL)
	if err != nil {
		t.Fatal(err)
	}
	body, err := fs.ReadFile(fsys, "00001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"0000-00-00", "MyISAM"} {
		if strings.Contains(string(body), bad) {
			t.Errorf("mysql schema contains %q", bad)
		}
	}
}

func TestFSUnknownDialect(t *testing.T) {
	if _, err := FS("oracle"); err == nil {
		t.Fatal("FS(oracle) succeeded, want error")
	}
}
