package app_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tccsuite/tccsuite/coordinator/app"
	"github.com/tccsuite/tccsuite/coordinator/internal/testpart"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// TestLeaseLossStopsDeciding revokes the coordinator's lease while a transaction's Try
// is in flight. The coordinator must not decide it under the lost lease even though
// every Try then succeeds; after re-joining with a new session it takes the orphaned
// row over (its old owner is dead) and cancels it.
func TestLeaseLossStopsDeciding(t *testing.T) {
	e := newEnv(t)
	c, _ := e.start(t, "lease", nil)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{e.etcd}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cli.Close() }()
	ctx := context.Background()
	key := "/tccsuite/coordinators/lease"
	resp, err := cli.Get(ctx, key)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("instance key: %v %v", resp, err)
	}
	oldLease := clientv3.LeaseID(resp.Kvs[0].Lease)

	release := make(chan struct{})
	e.parts["payment"].SetBehave(func(call testpart.Call) testpart.Answer {
		if call.Phase == tcc.PhaseTry {
			return testpart.Block(release, call)
		}
		return testpart.Answer{}
	})
	res := make(chan error, 1)
	go func() {
		_, err := c.Begin(ctx, threeBranches(tcc.WaitDecision, 20000), "")
		res <- err
	}()
	try := <-e.parts["payment"].Seen()
	if _, err := cli.Revoke(ctx, oldLease); err != nil {
		t.Fatal(err)
	}
	// Wait until the instance has noticed and re-joined under a new lease.
	eventually(t, 10*time.Second, "re-join", func() bool {
		r, err := cli.Get(ctx, key)
		return err == nil && len(r.Kvs) == 1 && clientv3.LeaseID(r.Kvs[0].Lease) != oldLease
	})
	close(release) // the Try now succeeds: a coordinator that kept deciding would confirm
	err = <-res
	if !tcc.IsAPIError(err, "UNDECIDED") {
		t.Fatalf("begin under a lost lease answered %v", err)
	}
	eventually(t, 10*time.Second, "recovery cancels", func() bool { return statusOf(c, try.XID) == tcc.TxCancelled })
	for n, p := range e.parts {
		if ph := p.Phases(try.XID); ph[tcc.PhaseConfirm] != 0 {
			t.Fatalf("%s confirmed: %v", n, ph)
		}
	}
	if n := e.parts["payment"].Count(try.XID, tcc.PhaseCancel); n == 0 {
		t.Fatal("payment got no cancel")
	}
	// And it serves new transactions under the new lease.
	e.parts["payment"].SetBehave(nil)
	tx, err := c.Begin(ctx, tcc.BeginRequest{Branches: []tcc.BranchSpec{{Participant: "order", Action: "a", Payload: json.RawMessage(`{}`)}}}, "")
	if err != nil || tx.Status != tcc.TxConfirmed {
		t.Fatalf("after re-join: %+v %v", tx, err)
	}
}

func TestConfig(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	base := map[string]string{"TCC_HMAC_KEY": "0123456789abcdef0123", "TCC_PARTICIPANTS": "order=http://127.0.0.1:8080,inventory=http://127.0.0.1:8081"}
	cfg, err := app.ConfigFromEnv(env(base))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != ":7070" || cfg.SQLitePath != "tccsuite-coordinator.db" || cfg.LeaseTTL != 5*time.Second ||
		len(cfg.EtcdEndpoints) != 1 || cfg.EtcdEndpoints[0] != "http://127.0.0.1:2379" || cfg.InstanceID == "" || len(cfg.Participants) != 2 {
		t.Fatalf("defaults: %+v", cfg)
	}
	if r := cfg.Redacted(); r.HMACKey != "***" {
		t.Fatal("secret not masked")
	}
	bad := []map[string]string{
		{"TCC_HMAC_KEY": "short"},
		{"TCC_PARTICIPANTS": ""},
		{"TCC_PARTICIPANTS": "order=ftp://x"},
		{"TCC_LEASE_TTL": "100ms"},
		{"TCC_MIN_TIMEOUT": "10s", "TCC_MAX_TIMEOUT": "1s"},
		{"TCC_RETRY_BASE": "1m", "TCC_RETRY_CAP": "1s"},
		{"TCC_INSTANCE_ID": "a/b"},
		{"TCC_MAX_PAYLOAD_BYTES": "1000", "TCC_MAX_BODY_BYTES": "10"},
	}
	for _, over := range bad {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range over {
			m[k] = v
		}
		cfg, err := app.ConfigFromEnv(env(m))
		if err == nil {
			err = cfg.Validate()
		}
		if err == nil {
			t.Errorf("accepted %v", over)
		}
	}
	if _, err := app.ConfigFromEnv(env(map[string]string{"TCC_LEASE_TTL": "soon"})); err == nil {
		t.Error("bad duration accepted")
	}
	insecure, _ := app.ConfigFromEnv(env(map[string]string{"TCC_INSECURE": "true", "TCC_PARTICIPANTS": "order=http://x:1"}))
	if err := insecure.Validate(); err != nil {
		t.Errorf("insecure without key: %v", err)
	}
}
