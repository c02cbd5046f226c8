package app

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"
)

// serve runs the service with cfg on a fresh loopback listener until the test ends (then
// checks that Run stopped cleanly) and returns its base URL and a client.
func serve(t *testing.T, cfg Config) (base string, c client) {
	t.Helper()
	cfg.Listener = listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return "http://" + cfg.Listener.Addr().String(),
		client{t, &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
}

// serveOnSQLite serves the service on a fresh SQLite file with the test key and admin
// token, and returns the admin call's header too.
func serveOnSQLite(t *testing.T) (base string, c client, admin http.Header) {
	t.Helper()
	cfg, err := ConfigFromEnv(func(k string) string {
		return map[string]string{
			"INVENTORY_SQLITE_PATH": t.TempDir() + "/inventory.db",
			"TCC_HMAC_KEY":          testHMACKey,
			"TCC_ADMIN_TOKEN":       testAdminToken,
		}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	base, c = serve(t, cfg)
	return base, c, http.Header{"Authorization": {"Bearer " + testAdminToken}}
}
