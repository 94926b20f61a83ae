package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/pflag"
)

// addLogFlags gives a long-running command its structured-log settings.
func addLogFlags(f *pflag.FlagSet, level string) {
	f.String("log-level", level, "structured log level: debug, info, warn, error")
	f.String("log-format", "json", "structured log format: json or text (key=value)")
	f.String("log-file", "", "append structured logs to this file (mode 0600) instead of stderr")
}

// setupLog checks the log flags and opens --log-file; the returned func
// closes it. Human lines stay on stdout either way.
func (e *env) setupLog() (func(), error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(e.v.GetString("log-level"))); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", e.v.GetString("log-level"))
	}
	switch f := e.v.GetString("log-format"); f {
	case "json", "text":
	default:
		return nil, fmt.Errorf("--log-format %q: use json or text", f)
	}
	path := e.v.GetString("log-file")
	if path == "" {
		return func() {}, nil
	}
	// Logs name peers and addresses, never secrets; still owner-only.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("--log-file: %w", err)
	}
	e.logOut = f
	return func() { f.Close() }, nil
}

// logger is the structured logger of a long-running command.
func (e *env) logger() *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(e.v.GetString("log-level"))); err != nil {
		level = slog.LevelInfo
	}
	var w io.Writer = e.stderr
	if e.logOut != nil {
		w = e.logOut
	}
	opts := &slog.HandlerOptions{Level: level}
	if e.v.GetString("log-format") == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
