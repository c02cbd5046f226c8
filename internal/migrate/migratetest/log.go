package migratetest

import (
	"log/slog"
	"testing"
)

// testLog writes to t's log.
func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(writer{t}, nil))
}

type writer struct{ t testing.TB }

func (w writer) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}
