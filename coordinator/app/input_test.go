package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tccsuite/tccsuite/coordinator/internal/testpart"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

func TestBadInput(t *testing.T) {
	e := newEnv(t)
	c, base := e.start(t, "input", map[string]string{"TCC_MAX_BRANCHES": "3", "TCC_MAX_PAYLOAD_BYTES": "64", "TCC_MAX_BODY_BYTES": "4096"})
	br := func(p, a, payload string) string {
		return `{"participant":"` + p + `","action":"` + a + `","payload":` + payload + `}`
	}
	ok := br("inventory", "reserve", `{"sku":"A"}`)
	cases := []struct {
		name, ctype, body, idem string
		status                  int
		code                    string
	}{
		{"malformed json", "application/json", `{"branches":[`, "", 400, "BAD_JSON"},
		{"not an object", "application/json", `[1,2]`, "", 400, "BAD_JSON"},
		{"unknown field", "application/json", `{"branches":[` + ok + `],"url":"http://evil"}`, "", 400, "BAD_JSON"},
		{"trailing data", "application/json", `{"branches":[` + ok + `]} {}`, "", 400, "BAD_JSON"},
		{"wrong type", "application/json", `{"branches":[` + ok + `],"timeout_ms":"5"}`, "", 400, "BAD_JSON"},
		{"no content type", "text/plain", `{"branches":[` + ok + `]}`, "", 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"no branches", "application/json", `{"branches":[]}`, "", 422, "NO_BRANCHES"},
		{"too many branches", "application/json", `{"branches":[` + ok + `,` + br("order", "a", `{}`) + `,` + br("order", "b", `{}`) + `,` + br("order", "c", `{}`) + `]}`, "", 422, "TOO_MANY_BRANCHES"},
		{"unknown participant", "application/json", `{"branches":[` + br("evil", "reserve", `{}`) + `]}`, "", 422, "UNKNOWN_PARTICIPANT"},
		{"url as participant", "application/json", `{"branches":[` + br("http://169.254.169.254", "x", `{}`) + `]}`, "", 422, "UNKNOWN_PARTICIPANT"},
		{"bad action", "application/json", `{"branches":[` + br("inventory", "../admin", `{}`) + `]}`, "", 422, "BAD_ACTION"},
		{"missing payload", "application/json", `{"branches":[{"participant":"inventory","action":"reserve"}]}`, "", 422, "BAD_PAYLOAD"},
		{"oversized payload", "application/json", `{"branches":[` + br("inventory", "reserve", `{"pad":"`+strings.Repeat("x", 100)+`"}`) + `]}`, "", 413, "PAYLOAD_TOO_LARGE"},
		{"oversized body", "application/json", `{"branches":[` + ok + `],"lock_keys":["` + strings.Repeat("k", 5000) + `"]}`, "", 413, "BODY_TOO_LARGE"},
		{"timeout too small", "application/json", `{"branches":[` + ok + `],"timeout_ms":1}`, "", 422, "BAD_TIMEOUT"},
		{"timeout too large", "application/json", `{"branches":[` + ok + `],"timeout_ms":999999999}`, "", 422, "BAD_TIMEOUT"},
		{"negative timeout", "application/json", `{"branches":[` + ok + `],"timeout_ms":-5}`, "", 422, "BAD_TIMEOUT"},
		{"duplicated branch", "application/json", `{"branches":[` + ok + `,` + br("inventory", "reserve", `{ "sku" : "A" }`) + `]}`, "", 422, "DUPLICATE_BRANCH"},
		{"bad wait", "application/json", `{"branches":[` + ok + `],"wait":"forever"}`, "", 422, "BAD_WAIT"},
		{"bad lock key", "application/json", `{"branches":[` + ok + `],"lock_keys":["a/b"]}`, "", 422, "BAD_LOCK_KEY"},
		{"bad idempotency key", "application/json", `{"branches":[` + ok + `]}`, strings.Repeat("k", 200), 400, "BAD_IDEMPOTENCY_KEY"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, base+"/v1/transactions", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.ctype)
			if tc.idem != "" {
				req.Header.Set("Idempotency-Key", tc.idem)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = resp.Body.Close() }()
			var eb tcc.ErrorBody
			if err := json.NewDecoder(resp.Body).Decode(&eb); err != nil {
				t.Fatalf("body not JSON: %v", err)
			}
			if resp.StatusCode != tc.status || eb.Code != tc.code || eb.Message == "" {
				t.Fatalf("got %d %+v, want %d %s", resp.StatusCode, eb, tc.status, tc.code)
			}
		})
	}
	for _, q := range []string{"?status=NOPE", "?limit=0", "?limit=5000", "?attention=maybe", "?after=a%2Fb"} {
		resp, err := httpGet(t, base+"/v1/transactions"+q)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("list %s: %d", q, resp.StatusCode)
		}
	}
	if _, err := c.Get(context.Background(), "nope"); !tcc.IsAPIError(err, "NOT_FOUND") {
		t.Fatalf("get missing: %v", err)
	}
	page, err := c.List(context.Background(), tcc.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Transactions) != 0 {
		t.Fatalf("bad input stored %d transactions", len(page.Transactions))
	}
	for n, p := range e.parts {
		select {
		case call := <-p.Seen():
			t.Fatalf("%s was called: %+v", n, call)
		default:
		}
	}
}

func TestLockKeys(t *testing.T) {
	e := newEnv(t)
	c, _ := e.start(t, "locks", nil)
	ctx := context.Background()
	single := func(key string, timeoutMS int64) tcc.BeginRequest {
		return tcc.BeginRequest{
			Branches:  []tcc.BranchSpec{{Participant: "inventory", Action: "reserve", Payload: json.RawMessage(`{"sku":"A"}`)}},
			TimeoutMS: timeoutMS, Wait: tcc.WaitCompletion, LockKeys: []string{key},
		}
	}

	t.Run("second waits until its deadline then is refused", func(t *testing.T) {
		release := make(chan struct{})
		var first atomic.Value
		var once sync.Once
		e.parts["inventory"].SetBehave(func(call testpart.Call) testpart.Answer {
			once.Do(func() { first.Store(call.XID) })
			if call.Phase == tcc.PhaseTry && call.XID == first.Load() {
				return testpart.Block(release, call)
			}
			return testpart.Answer{}
		})
		defer e.parts["inventory"].SetBehave(nil)
		res := make(chan *tcc.Transaction, 1)
		go func() {
			tx, err := c.Begin(ctx, single("sku-A", 10000), "")
			if err != nil {
				t.Error(err)
			}
			res <- tx
		}()
		// Learn the first XID from its Try arriving.
		<-e.parts["inventory"].Seen()
		_, err := c.Begin(ctx, single("sku-A", 300), "")
		var ae *tcc.APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusConflict || ae.Code != "LOCKED" || ae.XID == "" {
			t.Fatalf("second: %v", err)
		}
		got, _ := c.Get(ctx, ae.XID)
		if got == nil || got.Status != tcc.TxCancelled || got.Refusal == nil || got.Refusal.Code != "LOCKED" {
			t.Fatalf("second stored as %+v", got)
		}
		if e.parts["inventory"].Count(ae.XID, tcc.PhaseTry) != 0 {
			t.Fatal("a locked-out transaction called Try")
		}
		close(release)
		if tx := <-res; tx == nil || tx.Status != tcc.TxConfirmed {
			t.Fatalf("first: %+v", tx)
		}
		// The key is free again.
		if tx, err := c.Begin(ctx, single("sku-A", 2000), ""); err != nil || tx.Status != tcc.TxConfirmed {
			t.Fatalf("after release: %+v %v", tx, err)
		}
	})

	t.Run("never overlap", func(t *testing.T) {
		var mu sync.Mutex
		holders := 0
		maxHolders := 0
		e.parts["inventory"].SetBehave(func(call testpart.Call) testpart.Answer {
			mu.Lock()
			defer mu.Unlock()
			switch call.Phase {
			case tcc.PhaseTry:
				holders++
				maxHolders = max(maxHolders, holders)
			default:
				holders--
			}
			return testpart.Answer{}
		})
		defer e.parts["inventory"].SetBehave(nil)
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tx, err := c.Begin(ctx, single("sku-B", 20000), "")
				if err != nil || tx.Status != tcc.TxConfirmed {
					t.Errorf("%+v %v", tx, err)
				}
			}()
		}
		wg.Wait()
		if maxHolders != 1 {
			t.Fatalf("%d transactions held sku-B at once", maxHolders)
		}
	})
	_ = time.Second
}
