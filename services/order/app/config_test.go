package app

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tccsuite/tccsuite/internal/conf"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

func TestCoordinatorURLList(t *testing.T) {
	env := func(coord string) func(string) string {
		return func(k string) string {
			return map[string]string{"ORDER_SQLITE_PATH": "x.db", "TCC_INSECURE": "true", "ORDER_COORDINATOR_URL": coord}[k]
		}
	}
	if _, err := ConfigFromEnv(env("http://c1:7070, http://c2:7070")); err != nil {
		t.Errorf("a list of coordinators was refused: %v", err)
	}
	for _, bad := range []string{"http://c1:7070,ftp://c2", "http://c1:7070,", "c1:7070"} {
		if _, err := ConfigFromEnv(env(bad)); err == nil {
			t.Errorf("ORDER_COORDINATOR_URL=%q was accepted", bad)
		}
	}
}

// TestConfigDefaults pins the order service's own defaults (services/README.md).
func TestConfigDefaults(t *testing.T) {
	cfg, err := ConfigFromEnv(func(k string) string {
		return map[string]string{"ORDER_SQLITE_PATH": "x.db", "TCC_INSECURE": "true"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != ":8080" || cfg.CoordinatorURL != "http://127.0.0.1:7070" || cfg.InventoryURL != "http://127.0.0.1:8081" ||
		cfg.PaymentURL != "http://127.0.0.1:8082" || !cfg.AccountCheck || cfg.TxTimeout != 5*time.Second || cfg.Wait != tcc.WaitCompletion ||
		cfg.RateLimit != 10000 || cfg.RateBurst != 1000 || cfg.PriceCacheTTL != time.Second ||
		cfg.IdempotencyRetention != 7*24*time.Hour || cfg.IdempotencyPurgeInterval != time.Hour || cfg.LogLevel != slog.LevelInfo {
		t.Errorf("defaults: %+v", cfg)
	}
}

func TestConfigRefuses(t *testing.T) {
	for over, want := range map[[2]string]string{
		{"ORDER_TX_TIMEOUT", "1ms"}:               "ORDER_TX_TIMEOUT must be in",
		{"ORDER_WAIT", "never"}:                   "ORDER_WAIT must be",
		{"ORDER_RATE_LIMIT", "-1"}:                "ORDER_RATE_LIMIT must not be negative",
		{"ORDER_RATE_BURST", "0"}:                 "ORDER_RATE_BURST must be at least 1",
		{"ORDER_PRICE_CACHE_TTL", "2m"}:           "ORDER_PRICE_CACHE_TTL must be in",
		{"ORDER_IDEMPOTENCY_RETENTION", "1m"}:     "ORDER_IDEMPOTENCY_RETENTION must be at least 1h",
		{"ORDER_INVENTORY_URL", "inventory:8081"}: "ORDER_INVENTORY_URL must be an http(s) URL",
		{"ORDER_TCC_ADDR", ":8080"}:               "ORDER_TCC_ADDR (:8080) must differ from ORDER_ADDR",
		{"ORDER_LOG_LEVEL", "chatty"}:             "ORDER_LOG_LEVEL",
		{"ORDER_ACCOUNT_CHECK", "maybe"}:          "ORDER_ACCOUNT_CHECK",
	} {
		_, err := ConfigFromEnv(func(k string) string {
			return map[string]string{"ORDER_SQLITE_PATH": "x.db", "TCC_INSECURE": "true", over[0]: over[1]}[k]
		})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s=%s: error %v, want one with %q", over[0], over[1], err, want)
		}
	}
}

// TestConfigLogMasksSecrets: the start-up line never shows the coordinator token.
func TestConfigLogMasksSecrets(t *testing.T) {
	cfg, err := ConfigFromEnv(func(k string) string {
		return map[string]string{"ORDER_SQLITE_PATH": "x.db", "TCC_INSECURE": "true", "ORDER_COORDINATOR_TOKEN": "coord-secret-0123", "ORDER_LOG_LEVEL": "debug"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	line := fmt.Sprint(conf.Attrs(cfg)...)
	if strings.Contains(line, "coord-secret") || !strings.Contains(line, "ORDER_COORDINATOR_TOKEN***") || !strings.Contains(line, "ORDER_LOG_LEVELDEBUG") {
		t.Errorf("attrs %s", line)
	}
}
