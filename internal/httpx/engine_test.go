package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	mysqldrv "github.com/go-sql-driver/mysql"
)

var errDomain = errors.New("domain: no such thing")

func mapDomain(err error) *Error {
	if errors.Is(err, errDomain) {
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "no such thing", Err: err}
	}
	return nil
}

type answer struct {
	status     int
	body       map[string]any
	retryAfter string
}

func serve(t *testing.T, r http.Handler, method, path string) answer {
	t.Helper()
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequestWithContext(context.Background(), method, path, nil))
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("%s %s: body %q is not a JSON object: %v", method, path, w.Body.String(), err)
	}
	return answer{w.Code, body, w.Header().Get("Retry-After")}
}

// TestEngineAnswers: every failure a handler returns is answered once, as Map decides
// (*Error, then the Mapper, then transient database errors, then a generic 500 that
// never shows the cause); unknown routes and methods, panics and the health endpoints
// answer JSON.
func TestEngineAnswers(t *testing.T) {
	notReady := errors.New("etcd session lost")
	ready := error(nil)
	r := NewEngine(discard, WithMapper(mapDomain), WithMetrics(NewMetrics("test")),
		WithReadiness(Readiness{Check: func(context.Context) error { return ready }, Code: "NOT_READY"}))
	fail := func(err error) gin.HandlerFunc { return Handle(func(*gin.Context) error { return err }) }
	r.GET("/ok", Handle(func(c *gin.Context) error { c.JSON(http.StatusOK, gin.H{"ok": true}); return nil }))
	r.GET("/typed", fail(Errorf(http.StatusConflict, "LOCKED", "locked by %s", "tx-1")))
	r.GET("/wrapped", fail(fmt.Errorf("outer: %w", &Error{Status: http.StatusTooManyRequests, Code: "RATE_LIMITED", Message: "slow down", RetryAfter: 2})))
	r.GET("/details", fail(&Error{Status: http.StatusServiceUnavailable, Code: "UNDECIDED", Message: "not yet",
		Details: map[string]any{"xid": "x1", "code": "OVERRIDE"}, RetryAfter: 1}))
	r.GET("/domain", fail(fmt.Errorf("store: %w", errDomain)))
	r.GET("/transient", fail(fmt.Errorf("query: %w", &mysqldrv.MySQLError{Number: 1213, Message: "Deadlock found"})))
	r.GET("/secret", fail(errors.New("dial tcp 10.0.0.7:3306: password=hunter2")))
	r.GET("/internal", fail(&Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "leaky detail"}))
	r.GET("/panic", func(*gin.Context) { panic("boom") })
	r.GET("/written", Handle(func(c *gin.Context) error {
		c.JSON(http.StatusAccepted, gin.H{"ok": true})
		return errors.New("after the answer")
	}))

	for _, tc := range []struct {
		method, path string
		status       int
		code         string
		message      string
		retryAfter   string
		extra        map[string]any
	}{
		{"GET", "/ok", http.StatusOK, "", "", "", nil},
		{"GET", "/typed", http.StatusConflict, "LOCKED", "locked by tx-1", "", nil},
		{"GET", "/wrapped", http.StatusTooManyRequests, "RATE_LIMITED", "slow down", "2", nil},
		{"GET", "/details", http.StatusServiceUnavailable, "UNDECIDED", "not yet", "1", map[string]any{"xid": "x1"}},
		{"GET", "/domain", http.StatusNotFound, CodeNotFound, "no such thing", "", nil},
		{"GET", "/transient", http.StatusServiceUnavailable, CodeUnavailable, "temporarily unavailable; retry later", "1", nil},
		{"GET", "/secret", http.StatusInternalServerError, CodeInternal, "internal error", "", nil},
		{"GET", "/internal", http.StatusInternalServerError, CodeInternal, "internal error", "", nil},
		{"GET", "/panic", http.StatusInternalServerError, CodeInternal, "internal error", "", nil},
		{"GET", "/written", http.StatusAccepted, "", "", "", nil},
		{"GET", "/nowhere", http.StatusNotFound, CodeNotFound, "no such endpoint", "", nil},
		{"POST", "/ok", http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method not allowed", "", nil},
		{"GET", "/healthz", http.StatusOK, "", "", "", nil},
		{"GET", "/readyz", http.StatusOK, "", "", "", nil},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			a := serve(t, r, tc.method, tc.path)
			if a.status != tc.status || a.retryAfter != tc.retryAfter {
				t.Fatalf("status %d Retry-After %q, want %d %q (%v)", a.status, a.retryAfter, tc.status, tc.retryAfter, a.body)
			}
			if tc.code == "" {
				if _, has := a.body["code"]; has {
					t.Fatalf("a success answered an error body %v", a.body)
				}
				return
			}
			want := map[string]any{"code": tc.code, "message": tc.message}
			for k, v := range tc.extra {
				want[k] = v
			}
			if fmt.Sprint(a.body) != fmt.Sprint(want) {
				t.Fatalf("body %v, want %v", a.body, want)
			}
		})
	}

	ready = notReady
	if a := serve(t, r, "GET", "/readyz"); a.status != http.StatusServiceUnavailable || a.body["code"] != "NOT_READY" || a.body["message"] != "not ready" {
		t.Fatalf("readyz while the check fails: %d %v", a.status, a.body)
	}
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequestWithContext(context.Background(), "GET", "/metrics", nil))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `http_requests_total{method="GET",route="/typed",service="test",status="409"} 1`) {
		t.Fatalf("metrics lack the request count: %d\n%s", w.Code, w.Body.String())
	}
}

// Without options an engine has no mapper, no metrics endpoint and is always ready.
func TestEngineDefaults(t *testing.T) {
	r := NewEngine(discard, WithNotFoundMessage("no such route"))
	r.GET("/domain", Handle(func(*gin.Context) error { return errDomain }))
	if a := serve(t, r, "GET", "/domain"); a.status != http.StatusInternalServerError {
		t.Errorf("an unmapped error answered %d", a.status)
	}
	if a := serve(t, r, "GET", "/readyz"); a.status != http.StatusOK {
		t.Errorf("readyz without a check answered %d", a.status)
	}
	if a := serve(t, r, "GET", "/metrics"); a.status != http.StatusNotFound || a.body["message"] != "no such route" {
		t.Errorf("/metrics without metrics: %d %v", a.status, a.body)
	}
}

func TestRouteUnion(t *testing.T) {
	api, tcc := NewEngine(discard, WithMetrics(NewMetrics("a"))), NewEngine(discard)
	api.GET("/only-api", func(*gin.Context) {})
	tcc.POST("/tcc/x/try", func(*gin.Context) {})
	got := map[string]bool{}
	for _, r := range RouteUnion(api, tcc) {
		k := r.Method + " " + r.Path
		if got[k] {
			t.Errorf("%s listed twice", k)
		}
		got[k] = true
	}
	for _, want := range []string{"GET /healthz", "GET /readyz", "GET /metrics", "GET /only-api", "POST /tcc/x/try"} {
		if !got[want] {
			t.Errorf("union lacks %s", want)
		}
	}
}
