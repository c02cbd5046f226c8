package cluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"go.uber.org/zap"
)

// TestZapToSlog: the etcd client's zap entries reach the slog logger at their level,
// with their fields and the logger's With fields, and below the slog level nothing is
// written.
func TestZapToSlog(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	z := zapToSlog(log).With(zap.String("endpoint", "e1"))
	z.Debug("hidden")
	z.Info("info", zap.Int("n", 3))
	z.Warn("retrying", zap.Error(errors.New("boom")))
	z.Error("failed", zap.Strings("keys", []string{"a", "b"}))
	z.DPanic("dpanic") // development-only panic: the production logger only writes it
	var got []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		got = append(got, m)
	}
	want := []struct {
		level, msg, key string
		val             any
	}{
		{"INFO", "info", "n", float64(3)},
		{"WARN", "retrying", "error", "boom"},
		{"ERROR", "failed", "keys", []any{"a", "b"}},
		{"ERROR", "dpanic", "zap_level", "dpanic"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d:\n%s", len(got), len(want), buf.String())
	}
	for i, w := range want {
		g := got[i]
		if g["level"] != w.level || g["msg"] != w.msg || g["endpoint"] != "e1" {
			t.Errorf("record %d = %v, want level %s msg %q endpoint e1", i, g, w.level, w.msg)
		}
		if gv, _ := json.Marshal(g[w.key]); string(gv) != mustJSON(t, w.val) {
			t.Errorf("record %d: %s = %s, want %s", i, w.key, gv, mustJSON(t, w.val))
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
