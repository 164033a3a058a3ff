package main

import (
	"io"
	"log/slog"

	"github.com/ctlua/ctlua/runtime/daemon"
)

// newLogger returns the daemon's logger: slog text or JSON records on w,
// at the configured level ([daemon] log_level, log_format).
func newLogger(d *daemon.DaemonConfig, w io.Writer) *slog.Logger {
	level := slog.LevelInfo
	_ = level.UnmarshalText([]byte(d.LogLevel)) // validated with the configuration
	opts := &slog.HandlerOptions{Level: level}
	if d.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
