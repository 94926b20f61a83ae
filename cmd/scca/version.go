package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// buildDate can be set at link time (-ldflags "-X main.buildDate=...");
// otherwise the commit time recorded by the Go toolchain stands in.
var buildDate string

// versionString describes this binary from debug.ReadBuildInfo: the module
// version (a tag, a pseudo-version or "(devel)"), the VCS commit and its
// time, whether the tree was modified, and the Go version.
func versionString() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "scca (no build information)"
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	commit := settings["vcs.revision"]
	if commit == "" {
		commit = "unknown"
	}
	if settings["vcs.modified"] == "true" {
		commit += "+dirty"
	}
	date := buildDate
	if date == "" {
		date = settings["vcs.time"]
	}
	if date == "" {
		date = "unknown"
	}
	return fmt.Sprintf("scca %s\n  commit: %s\n  built:  %s\n  go:     %s", info.Main.Version, commit, date, info.GoVersion)
}

func newVersionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and build date",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			e.printf("%s\n", versionString())
			return nil
		},
	}
}
