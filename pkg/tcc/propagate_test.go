package tcc_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-resty/resty/v2"

	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// TestPropagation: a request's ID, trace context and deadline reach the handler's
// context and, through RestyMiddleware, the next hop.
func TestPropagation(t *testing.T) {
	hop := make(chan http.Header, 1)
	next := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		hop <- r.Header.Clone()
	}))
	defer next.Close()
	client := resty.New().OnBeforeRequest(tcc.RestyMiddleware)

	deadline := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
	r := gin.New()
	r.Use(tcc.Propagate())
	r.GET("/", func(c *gin.Context) {
		m := tcc.MetaFrom(c.Request.Context())
		if d, ok := c.Request.Context().Deadline(); !ok || !d.Equal(deadline) {
			t.Errorf("context deadline %v %v, want %v", d, ok, deadline)
		}
		if m.RequestID != "req-1" || m.XID != "x-1" {
			t.Errorf("meta %+v", m)
		}
		if _, err := client.R().SetContext(c.Request.Context()).Get(next.URL); err != nil {
			t.Error(err)
		}
	})
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil)
	req.Header.Set(tcc.HeaderRequestID, "req-1")
	req.Header.Set(tcc.HeaderTraceParent, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	req.Header.Set(tcc.HeaderXID, "x-1")
	req.Header.Set(tcc.HeaderDeadline, tcc.FormatDeadline(deadline))
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	if got := w.Header().Get(tcc.HeaderRequestID); got != "req-1" {
		t.Errorf("echoed request ID %q", got)
	}
	h := <-hop
	for k, want := range map[string]string{
		tcc.HeaderRequestID:   "req-1",
		tcc.HeaderTraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		tcc.HeaderXID:         "x-1",
		tcc.HeaderDeadline:    tcc.FormatDeadline(deadline),
	} {
		if got := h.Get(k); got != want {
			t.Errorf("next hop %s = %q, want %q", k, got, want)
		}
	}
}

func TestPropagateMakesRequestIDAndDropsJunk(t *testing.T) {
	r := gin.New()
	r.Use(tcc.Propagate())
	var got tcc.Meta
	r.GET("/", func(c *gin.Context) { got = tcc.MetaFrom(c.Request.Context()) })
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil)
	req.Header.Set(tcc.HeaderXID, "bad xid\x01")
	req.Header.Set(tcc.HeaderDeadline, "not a time")
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	if len(got.RequestID) != 32 || w.Header().Get(tcc.HeaderRequestID) != got.RequestID {
		t.Errorf("request ID %q, echoed %q", got.RequestID, w.Header().Get(tcc.HeaderRequestID))
	}
	if got.XID != "" || !got.Deadline.IsZero() {
		t.Errorf("junk kept: %+v", got)
	}
	if tcc.MetaFrom(context.Background()) != (tcc.Meta{}) {
		t.Error("empty context has meta")
	}
}

// TestVerifierKeyRotation: a verifier holding the old and the new key accepts both, so
// keys can be rotated without downtime.
func TestVerifierKeyRotation(t *testing.T) {
	oldKey, newKey := []byte("old-key-0123456789"), []byte("new-key-0123456789")
	v, err := tcc.NewVerifier(time.Minute, newKey, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range [][]byte{oldKey, newKey} {
		s, _ := tcc.NewSigner(k)
		h := http.Header{}
		h.Set(tcc.HeaderXID, "x")
		s.Sign(h, "POST", "/tcc/a/try", []byte("{}"), time.Now())
		if err := v.Verify(h, "POST", "/tcc/a/try", []byte("{}"), time.Now()); err != nil {
			t.Errorf("key %s: %v", k, err)
		}
	}
	if _, err := tcc.NewSigner([]byte("short")); err == nil {
		t.Error("a short key was accepted")
	}
	if _, err := tcc.NewVerifier(time.Minute); err == nil {
		t.Error("a verifier without keys was accepted")
	}
}

func TestClassify(t *testing.T) {
	for status, want := range map[int]tcc.StatusClass{
		200: tcc.ClassDone, 204: tcc.ClassDone, 409: tcc.ClassRefused, 400: tcc.ClassBadCall,
		401: tcc.ClassBadCall, 404: tcc.ClassBadCall, 500: tcc.ClassUnknown, 503: tcc.ClassUnknown,
		302: tcc.ClassUnknown,
	} {
		if got := tcc.Classify(status); got != want {
			t.Errorf("Classify(%d) = %v, want %v", status, got, want)
		}
	}
}
