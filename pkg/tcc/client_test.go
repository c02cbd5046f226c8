package tcc_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tccsuite/tccsuite/pkg/tcc"
)

func TestClient(t *testing.T) {
	var last *http.Request
	var lastBody []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		last = r.Clone(context.Background())
		lastBody, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/v1/transactions":
			if r.Header.Get("Idempotency-Key") == "locked" {
				w.Header().Set(tcc.HeaderXID, "x-locked")
				w.WriteHeader(http.StatusConflict)
				_ = json.NewEncoder(w).Encode(tcc.ErrorBody{Code: "LOCKED", Message: "held"})
				return
			}
			if r.Header.Get("Idempotency-Key") == "busy" {
				w.Header().Set("Retry-After", "2")
				w.WriteHeader(http.StatusServiceUnavailable)
				_ = json.NewEncoder(w).Encode(tcc.ErrorBody{Code: "NOT_READY", Message: "later"})
				return
			}
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(tcc.Transaction{XID: "x1", Status: tcc.TxConfirmed})
		case r.Method == http.MethodGet && r.URL.Path == "/v1/transactions":
			_ = json.NewEncoder(w).Encode(tcc.TransactionPage{Transactions: []tcc.Transaction{{XID: "x1"}}, Next: "x1"})
		case r.Method == http.MethodGet && r.URL.Path == "/v1/transactions/x1":
			_ = json.NewEncoder(w).Encode(tcc.Transaction{XID: "x1", Status: tcc.TxCancelled, Refusal: &tcc.Refusal{Code: "OUT_OF_STOCK"}})
		case r.Method == http.MethodPost && r.URL.Path == "/v1/transactions/x1/retry":
			if r.Header.Get("Authorization") != "Bearer tok" {
				w.WriteHeader(http.StatusUnauthorized)
				_ = json.NewEncoder(w).Encode(tcc.ErrorBody{Code: "UNAUTHORIZED", Message: "no"})
				return
			}
			w.WriteHeader(http.StatusAccepted)
			_ = json.NewEncoder(w).Encode(tcc.Transaction{XID: "x1", Status: tcc.TxConfirming})
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`not json`))
		}
	}))
	defer srv.Close()
	c, err := tcc.NewClient(srv.URL+"/", tcc.WithAdminToken("tok"), tcc.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := tcc.WithMeta(context.Background(), tcc.Meta{RequestID: "rq-1", TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
	req := tcc.BeginRequest{Branches: []tcc.BranchSpec{{Participant: "inventory", Action: "reserve", Payload: json.RawMessage(`{"sku":"A"}`)}}, Wait: tcc.WaitCompletion}

	tx, err := c.Begin(ctx, req, "k1")
	if err != nil || tx.XID != "x1" || tx.Status != tcc.TxConfirmed {
		t.Fatalf("begin: %+v %v", tx, err)
	}
	if last.Header.Get("Idempotency-Key") != "k1" || last.Header.Get(tcc.HeaderRequestID) != "rq-1" ||
		last.Header.Get(tcc.HeaderTraceParent) == "" || last.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", last.Header)
	}
	var sent tcc.BeginRequest
	if err := json.Unmarshal(lastBody, &sent); err != nil || len(sent.Branches) != 1 || sent.Wait != tcc.WaitCompletion {
		t.Fatalf("body %s %v", lastBody, err)
	}

	_, err = c.Begin(ctx, req, "locked")
	var ae *tcc.APIError
	if !errors.As(err, &ae) || ae.Status != 409 || ae.Code != "LOCKED" || ae.XID != "x-locked" || !tcc.IsAPIError(err, "LOCKED") {
		t.Fatalf("locked: %v", err)
	}
	_, err = c.Begin(ctx, req, "busy")
	if !errors.As(err, &ae) || ae.Status != 503 || ae.RetryAfter != 2*time.Second {
		t.Fatalf("busy: %v", err)
	}

	got, err := c.Get(ctx, "x1")
	if err != nil || got.Refusal == nil || got.Refusal.Code != "OUT_OF_STOCK" {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, err := c.Get(ctx, "a/b"); err == nil {
		t.Fatal("bad XID accepted")
	}
	if _, err := c.Get(ctx, "x2"); !errors.As(err, &ae) || ae.Status != 404 {
		t.Fatalf("missing: %v", err)
	}

	yes := true
	page, err := c.List(ctx, tcc.ListOptions{Status: tcc.TxConfirmed, Attention: &yes, Limit: 5, After: "x0"})
	if err != nil || len(page.Transactions) != 1 || page.Next != "x1" {
		t.Fatalf("list: %+v %v", page, err)
	}
	q := last.URL.Query()
	if q.Get("status") != "CONFIRMED" || q.Get("attention") != "true" || q.Get("limit") != "5" || q.Get("after") != "x0" {
		t.Fatalf("query %v", q)
	}

	if tx, err := c.Retry(ctx, "x1"); err != nil || tx.Status != tcc.TxConfirming {
		t.Fatalf("retry: %+v %v", tx, err)
	}
	anon, _ := tcc.NewClient(srv.URL)
	if _, err := anon.Retry(ctx, "x1"); !tcc.IsAPIError(err, "UNAUTHORIZED") {
		t.Fatalf("retry without token: %v", err)
	}
	if _, err := tcc.NewClient("ftp://x"); err == nil {
		t.Fatal("bad URL accepted")
	}
}

// TestClientFailover: with several coordinators, a call moves on past one that refuses
// the connection or answers 503 NOT_READY (it provably took nothing), but never past one
// that took the call and failed otherwise (that could run it twice).
func TestClientFailover(t *testing.T) {
	type hits = atomic.Int64
	serve := func(status int, code string, h *hits) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			h.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			if status >= 300 {
				_ = json.NewEncoder(w).Encode(tcc.ErrorBody{Code: code, Message: code})
				return
			}
			_ = json.NewEncoder(w).Encode(tcc.Transaction{XID: "x-ok", Status: tcc.TxConfirmed})
		}))
	}
	var okHits, notReadyHits, brokenHits hits
	ok := serve(http.StatusCreated, "", &okHits)
	defer ok.Close()
	notReady := serve(http.StatusServiceUnavailable, "NOT_READY", &notReadyHits)
	defer notReady.Close()
	broken := serve(http.StatusInternalServerError, "INTERNAL", &brokenHits)
	defer broken.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close() // refuses connections from now on

	req := tcc.BeginRequest{Branches: []tcc.BranchSpec{{Participant: "p", Action: "a", Payload: json.RawMessage(`{}`)}}}
	c, err := tcc.NewClient(downURL+","+notReady.URL+","+ok.URL, tcc.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < 6; i++ { // every starting point of the rotation
		tx, err := c.Begin(context.Background(), req, "k")
		if err != nil || tx.XID != "x-ok" {
			t.Fatalf("call %d: %v, %+v", i, err, tx)
		}
	}
	if okHits.Load() != 6 {
		t.Fatalf("the live coordinator took %d of 6 calls", okHits.Load())
	}

	// A coordinator that took the call and failed is not skipped.
	c2, err := tcc.NewClient(broken.URL+","+ok.URL, tcc.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	var failures int
	for i := 0; i < 4; i++ {
		if _, err := c2.Begin(context.Background(), req, "k"); tcc.IsAPIError(err, "INTERNAL") {
			failures++
		}
	}
	if failures != 2 || brokenHits.Load() != 2 {
		t.Fatalf("%d failures, %d calls to the broken coordinator: want 2 and 2 (round robin, no failover after a taken call)", failures, brokenHits.Load())
	}

	// All down: the last error is returned.
	c3, err := tcc.NewClient(downURL+","+downURL, tcc.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	if _, err := c3.Begin(context.Background(), req, "k"); err == nil {
		t.Fatal("no error with every coordinator down")
	}
	if _, err := tcc.NewClient("http://a:1,ftp://b"); err == nil {
		t.Fatal("a bad URL in the list was accepted")
	}
}
