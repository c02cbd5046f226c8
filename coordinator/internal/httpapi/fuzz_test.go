package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/tccsuite/tccsuite/coordinator/internal/registry"
	"github.com/tccsuite/tccsuite/internal/httpx"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// FuzzParseBegin throws arbitrary bodies, content types and idempotency keys at the
// begin request's parser. Whatever it gets, it either refuses with a 4xx and a stable
// code (and nothing is stored: the engine is never reached), or returns a request every
// later step can trust: known participants, valid actions and lock keys, compact JSON
// payloads within the limit, a timeout within bounds, a known wait mode.
func FuzzParseBegin(f *testing.F) {
	f.Add("application/json", "", []byte(`{"branches":[{"participant":"a","action":"try-it","payload":{"x":1}}]}`))
	f.Add("application/json", "key-1", []byte(`{"branches":[{"participant":"a","action":"x","payload":{}},{"participant":"b","action":"x","payload":[1]}],"timeout_ms":1000,"wait":"decision","lock_keys":["k1","k2"]}`))
	f.Add("application/json; charset=utf-8", "k", []byte(`{"branches":[{"participant":"http://169.254.169.254","action":"x","payload":{}}]}`))
	f.Add("application/json", "", []byte(`{"branches":[]}`))
	f.Add("text/plain", "", []byte(`{}`))
	f.Add("application/json", "\x00", []byte(`{"branches":[{"participant":"a","action":"x","payload":null}],"timeout_ms":-5}`))
	f.Add("application/json", "", []byte(`{"branches":[{"participant":"a","action":"x","payload":{"a":1}},{"participant":"a","action":"x","payload":{ "a" : 1 }}]}`))
	f.Add("application/json", "", []byte(`{"branches":[{"participant":"a","action":"x","payload":{}}]}{"x":1}`))

	reg, err := registry.New(map[string]string{"a": "http://127.0.0.1:1", "b": "http://127.0.0.1:2"}, registry.Options{})
	if err != nil {
		f.Fatal(err)
	}
	lim := Limits{MaxBranches: 4, MaxPayloadBytes: 256, MaxBodyBytes: 2048, MinTimeout: 100 * time.Millisecond,
		MaxTimeout: 10 * time.Second, DefaultTimeout: 5 * time.Second, MaxLockKeys: 3}
	h := &handlers{d: Deps{Registry: reg, Limits: lim}}
	gin.SetMode(gin.ReleaseMode)

	f.Fuzz(func(t *testing.T, ctype, idemKey string, body []byte) {
		w := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(w)
		c.Request = httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/v1/transactions", bytes.NewReader(body))
		c.Request.Header.Set("Content-Type", ctype)
		c.Request.Header.Set("Idempotency-Key", idemKey)
		in, err := h.parseBegin(c)
		if err != nil {
			var ae *httpx.Error
			if !errors.As(err, &ae) || ae.Status < 400 || ae.Status > 499 || ae.Code == "" {
				t.Fatalf("refusal %v is not a 4xx with a code", err)
			}
			return
		}
		r := in.Req
		if len(r.Branches) == 0 || len(r.Branches) > lim.MaxBranches {
			t.Fatalf("accepted %d branches", len(r.Branches))
		}
		for _, b := range r.Branches {
			if _, ok := reg.Get(b.Participant); !ok {
				t.Fatalf("accepted unknown participant %q", b.Participant)
			}
			if !tcc.ValidID(b.Action) || len(b.Payload) > lim.MaxPayloadBytes || !json.Valid(b.Payload) {
				t.Fatalf("accepted branch %+v", b)
			}
			var compact bytes.Buffer
			if json.Compact(&compact, b.Payload) != nil || !bytes.Equal(compact.Bytes(), b.Payload) {
				t.Fatalf("payload %q not compact", b.Payload)
			}
		}
		if in.Timeout < lim.MinTimeout || in.Timeout > lim.MaxTimeout {
			t.Fatalf("accepted timeout %s", in.Timeout)
		}
		if r.Wait != tcc.WaitDecision && r.Wait != tcc.WaitCompletion {
			t.Fatalf("accepted wait %q", r.Wait)
		}
		if len(r.LockKeys) > lim.MaxLockKeys {
			t.Fatalf("accepted %d lock keys", len(r.LockKeys))
		}
		for _, k := range r.LockKeys {
			if !tcc.ValidID(k) {
				t.Fatalf("accepted lock key %q", k)
			}
		}
		if len(in.IdempotencyKey) > 128 || in.RequestHash == "" {
			t.Fatalf("idempotency %q hash %q", in.IdempotencyKey, in.RequestHash)
		}
	})
}
