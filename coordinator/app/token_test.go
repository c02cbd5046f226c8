package app_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// TestClientToken: with TCC_CLIENT_TOKEN set, only callers holding it (or the admin
// token) may start or read transactions, and the admin retry still needs the admin token.
func TestClientToken(t *testing.T) {
	e := newEnv(t)
	const token = "client-token-0123456789"
	_, base := e.start(t, "tok", map[string]string{"TCC_CLIENT_TOKEN": token})
	ctx := context.Background()
	req := threeBranches(tcc.WaitCompletion, 5000)

	anon, _ := tcc.NewClient(base, tcc.WithTimeout(10*time.Second))
	if _, err := anon.Begin(ctx, req, ""); !tcc.IsAPIError(err, "UNAUTHORIZED") {
		t.Fatalf("begin without a token: %v", err)
	}
	wrong, _ := tcc.NewClient(base, tcc.WithClientToken("not-the-token-0123"), tcc.WithTimeout(10*time.Second))
	if _, err := wrong.List(ctx, tcc.ListOptions{}); !tcc.IsAPIError(err, "UNAUTHORIZED") {
		t.Fatalf("list with a wrong token: %v", err)
	}
	for n, p := range e.parts {
		if len(p.Seen()) != 0 {
			t.Fatalf("%s was called by an unauthorized begin", n)
		}
	}

	client, _ := tcc.NewClient(base, tcc.WithClientToken(token), tcc.WithTimeout(10*time.Second))
	tx, err := client.Begin(ctx, req, "")
	if err != nil || tx.Status != tcc.TxConfirmed {
		t.Fatalf("begin with the client token: %+v, %v", tx, err)
	}
	if _, err := client.Retry(ctx, tx.XID); !tcc.IsAPIError(err, "UNAUTHORIZED") {
		t.Fatalf("retry with the client token only: %v", err)
	}
	admin, _ := tcc.NewClient(base, tcc.WithAdminToken(adminToken), tcc.WithTimeout(10*time.Second))
	if got, err := admin.Get(ctx, tx.XID); err != nil || got.XID != tx.XID {
		t.Fatalf("get with the admin token: %+v, %v", got, err)
	}
	// The operations endpoints stay open for probes and scrapers.
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := httpGet(t, base+p)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s answered %d", p, resp.StatusCode)
		}
	}
}
