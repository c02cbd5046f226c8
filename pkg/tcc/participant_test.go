package tcc_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/tccsuite/tccsuite/pkg/tcc"
)

func init() { gin.SetMode(gin.ReleaseMode) }

var testKey = []byte("0123456789abcdef-test-key")

// pool is the business state of the test participant: funds that a Try holds, a
// Confirm spends and a Cancel releases. Conditional updates keep it from going negative.
type pool struct {
	ID        int `gorm:"primaryKey;autoIncrement:false"`
	Available int64
	Held      int64
	Spent     int64
}

type holdPayload struct {
	Pool   int   `json:"pool"`
	Amount int64 `json:"amount"`
}

func (p *holdPayload) Validate() error {
	if p.Amount <= 0 || p.Amount > 1_000_000 {
		return errors.New("amount must be between 1 and 1000000")
	}
	return nil
}

var errCompensateNothing = errors.New("cancel found nothing held: double compensation")

// holdAction moves amount available→held on Try, held→spent on Confirm, held→available
// on Cancel, each a conditional UPDATE, recording each effect.
func holdAction() tcc.Action[holdPayload] {
	// step moves the amount from column from to column to, if from holds enough.
	step := func(from, to string, refuse error) tcc.Handler[holdPayload] {
		return func(_ context.Context, tx *gorm.DB, b tcc.Branch, p holdPayload) error {
			res := tx.Model(&pool{}).Where("id = ? AND "+from+" >= ?", p.Pool, p.Amount).
				Updates(map[string]any{
					from: gorm.Expr(from+" - ?", p.Amount),
					to:   gorm.Expr(to+" + ?", p.Amount),
				})
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected != 1 {
				return refuse
			}
			return record(b)(tx)
		}
	}
	return tcc.Action[holdPayload]{
		Name:    "hold",
		Try:     step("available", "held", tcc.Reject("INSUFFICIENT", "not enough available")),
		Confirm: step("held", "spent", errCompensateNothing),
		Cancel:  step("held", "available", errCompensateNothing),
	}
}

type fixture struct {
	db     *gorm.DB
	srv    *httptest.Server
	signer *tcc.Signer
	logs   *logBuffer // what the participant logged
}

// logBuffer collects log output; safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newFixture serves the "hold" action (and any extra ones) over db, with pool 1 holding
// initial.
func newFixture(t testing.TB, db *gorm.DB, initial int64, extra ...func(gin.IRouter, *tcc.Participant) error) *fixture {
	t.Helper()
	migrateTest(t, db)
	if err := db.AutoMigrate(&pool{}); err != nil {
		t.Fatal(err)
	}
	if err := db.Create(&pool{ID: 1, Available: initial}).Error; err != nil {
		t.Fatal(err)
	}
	return serveFixture(t, db, extra...)
}

// serveFixture serves the "hold" action (and any extra ones) over db as it is.
func serveFixture(t testing.TB, db *gorm.DB, extra ...func(gin.IRouter, *tcc.Participant) error) *fixture {
	t.Helper()
	v, err := tcc.NewVerifier(time.Minute, testKey)
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	p, err := tcc.NewParticipant(tcc.ParticipantConfig{
		DB: db, Verifier: v, MaxBodyBytes: 1024,
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	if err := tcc.Mount(r, p, holdAction()); err != nil {
		t.Fatal(err)
	}
	for _, a := range extra {
		if err := a(r, p); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	s, err := tcc.NewSigner(testKey)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{db: db, srv: srv, signer: s, logs: logs}
}

type call struct {
	action      string // default "hold"
	xid, branch string
	phase       tcc.Phase
	body        string
	deadline    time.Time
}

// request builds a correctly signed phase call; tests then spoil one part of it.
func (f *fixture) request(t testing.TB, c call) *http.Request {
	t.Helper()
	if c.deadline.IsZero() {
		c.deadline = time.Now().Add(time.Minute)
	}
	if c.action == "" {
		c.action = "hold"
	}
	path := "/tcc/" + c.action + "/" + string(c.phase)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, f.srv.URL+path, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(tcc.HeaderXID, c.xid)
	req.Header.Set(tcc.HeaderBranchID, c.branch)
	req.Header.Set(tcc.HeaderDeadline, tcc.FormatDeadline(c.deadline))
	f.signer.Sign(req.Header, http.MethodPost, path, []byte(c.body), time.Now())
	return req
}

type answer struct {
	status int
	code   string
	result tcc.PhaseResult
	header http.Header
}

func do(t testing.TB, req *http.Request) answer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, &a.result); err != nil {
			t.Fatalf("200 body %q: %v", raw, err)
		}
		return a
	}
	var eb tcc.ErrorBody
	if err := json.Unmarshal(raw, &eb); err != nil || eb.Code == "" {
		t.Fatalf("status %d: body %q is not a JSON error", resp.StatusCode, raw)
	}
	a.code = eb.Code
	return a
}

func (f *fixture) pool(t testing.TB) pool {
	t.Helper()
	var p pool
	if err := f.db.First(&p, 1).Error; err != nil {
		t.Fatal(err)
	}
	return p
}

func (f *fixture) barrierRows(t testing.TB) int64 {
	t.Helper()
	var n int64
	if err := f.db.Table(tcc.BarrierTable).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func TestHandlerHappyPathAndOutcomes(t *testing.T) {
	f := newFixture(t, sqliteDB(t), 100)
	body := `{"pool":1,"amount":30}`
	steps := []struct {
		phase   tcc.Phase
		outcome tcc.Outcome
	}{
		{tcc.PhaseTry, tcc.OutcomeApplied},
		{tcc.PhaseTry, tcc.OutcomeDuplicate},
		{tcc.PhaseConfirm, tcc.OutcomeApplied},
		{tcc.PhaseConfirm, tcc.OutcomeDuplicate},
	}
	for _, s := range steps {
		a := do(t, f.request(t, call{xid: "x1", branch: "b1", phase: s.phase, body: body}))
		if a.status != http.StatusOK || a.result.Outcome != s.outcome || a.result.XID != "x1" || a.result.Phase != s.phase {
			t.Fatalf("%s: %+v, want 200 %s", s.phase, a, s.outcome)
		}
	}
	if p := f.pool(t); p.Available != 70 || p.Held != 0 || p.Spent != 30 {
		t.Fatalf("pool %+v, want 70/0/30", p)
	}
	// Empty compensation, then a suspended Try.
	a := do(t, f.request(t, call{xid: "x2", branch: "b1", phase: tcc.PhaseCancel, body: body}))
	if a.status != http.StatusOK || a.result.Outcome != tcc.OutcomeEmptyCompensation {
		t.Fatalf("cancel first: %+v", a)
	}
	a = do(t, f.request(t, call{xid: "x2", branch: "b1", phase: tcc.PhaseTry, body: body}))
	if a.status != http.StatusConflict || a.code != tcc.CodeSuspended {
		t.Fatalf("try after cancel: %+v, want 409 %s", a, tcc.CodeSuspended)
	}
	// A business refusal: 409 with the action's code, nothing held.
	a = do(t, f.request(t, call{xid: "x3", branch: "b1", phase: tcc.PhaseTry, body: `{"pool":1,"amount":1000}`}))
	if a.status != http.StatusConflict || a.code != "INSUFFICIENT" {
		t.Fatalf("refused try: %+v, want 409 INSUFFICIENT", a)
	}
	if p := f.pool(t); p.Available != 70 || p.Held != 0 || p.Spent != 30 {
		t.Fatalf("pool %+v after refusals, want 70/0/30", p)
	}
}

// TestHandlerBadCalls: every malformed, unauthenticated or late call gets the right 4xx
// with a JSON code, and changes nothing.
func TestHandlerBadCalls(t *testing.T) {
	f := newFixture(t, sqliteDB(t), 100)
	good := call{xid: "x1", branch: "b1", phase: tcc.PhaseTry, body: `{"pool":1,"amount":10}`}
	cases := []struct {
		name   string
		req    func() *http.Request
		status int
		code   string
	}{
		{"missing XID", func() *http.Request {
			c := good
			c.xid = ""
			return f.request(t, c)
		}, 400, tcc.CodeBadHeader},
		{"malformed XID", func() *http.Request {
			c := good
			c.xid = "x 1; drop table"
			return f.request(t, c)
		}, 400, tcc.CodeBadHeader},
		{"XID too long", func() *http.Request {
			c := good
			c.xid = strings.Repeat("x", 65)
			return f.request(t, c)
		}, 400, tcc.CodeBadHeader},
		{"XID ..", func() *http.Request {
			c := good
			c.xid = ".."
			return f.request(t, c)
		}, 400, tcc.CodeBadHeader},
		{"branch ID .", func() *http.Request {
			c := good
			c.branch = "."
			return f.request(t, c)
		}, 400, tcc.CodeBadHeader},
		{"missing branch ID", func() *http.Request {
			c := good
			c.branch = ""
			return f.request(t, c)
		}, 400, tcc.CodeBadHeader},
		{"missing deadline", func() *http.Request {
			r := f.request(t, good)
			r.Header.Del(tcc.HeaderDeadline)
			f.signer.Sign(r.Header, http.MethodPost, r.URL.Path, []byte(good.body), time.Now())
			return r
		}, 400, tcc.CodeBadHeader},
		{"malformed deadline", func() *http.Request {
			r := f.request(t, good)
			r.Header.Set(tcc.HeaderDeadline, "tomorrow")
			f.signer.Sign(r.Header, http.MethodPost, r.URL.Path, []byte(good.body), time.Now())
			return r
		}, 400, tcc.CodeBadHeader},
		{"bad JSON", func() *http.Request {
			c := good
			c.body = `{"pool":1,"amount":`
			return f.request(t, c)
		}, 400, tcc.CodeBadPayload},
		{"wrong type", func() *http.Request {
			c := good
			c.body = `{"pool":1,"amount":"ten"}`
			return f.request(t, c)
		}, 400, tcc.CodeBadPayload},
		{"unknown field", func() *http.Request {
			c := good
			c.body = `{"pool":1,"amount":10,"price":0}`
			return f.request(t, c)
		}, 400, tcc.CodeBadPayload},
		{"trailing data", func() *http.Request {
			c := good
			c.body = `{"pool":1,"amount":10}{}`
			return f.request(t, c)
		}, 400, tcc.CodeBadPayload},
		{"empty body", func() *http.Request {
			c := good
			c.body = ``
			return f.request(t, c)
		}, 400, tcc.CodeBadPayload},
		{"invalid payload", func() *http.Request {
			c := good
			c.body = `{"pool":1,"amount":-5}`
			return f.request(t, c)
		}, 400, tcc.CodeBadPayload},
		{"wrong content type", func() *http.Request {
			r := f.request(t, good)
			r.Header.Set("Content-Type", "text/plain")
			return r
		}, 415, tcc.CodeUnsupportedMedia},
		{"no content type", func() *http.Request {
			r := f.request(t, good)
			r.Header.Del("Content-Type")
			return r
		}, 415, tcc.CodeUnsupportedMedia},
		{"body over the limit", func() *http.Request {
			c := good
			c.body = `{"pool":1,"amount":10,"pad":"` + strings.Repeat("a", 2048) + `"}`
			return f.request(t, c)
		}, 413, tcc.CodePayloadTooLarge},
		{"body over the limit, chunked", func() *http.Request {
			c := good
			c.body = `{"pool":1,"amount":10,"pad":"` + strings.Repeat("a", 2048) + `"}`
			r := f.request(t, c)
			r.ContentLength = -1
			r.Body = io.NopCloser(strings.NewReader(c.body))
			return r
		}, 413, tcc.CodePayloadTooLarge},
		{"no signature", func() *http.Request {
			r := f.request(t, good)
			r.Header.Del("Authorization")
			return r
		}, 401, tcc.CodeUnauthorized},
		{"signature by another key", func() *http.Request {
			r := f.request(t, good)
			other, _ := tcc.NewSigner([]byte("another-key-of-16+bytes"))
			other.Sign(r.Header, http.MethodPost, r.URL.Path, []byte(good.body), time.Now())
			return r
		}, 401, tcc.CodeUnauthorized},
		{"stale signature", func() *http.Request {
			r := f.request(t, good)
			f.signer.Sign(r.Header, http.MethodPost, r.URL.Path, []byte(good.body), time.Now().Add(-2*time.Minute))
			return r
		}, 401, tcc.CodeUnauthorized},
		{"signature from the future", func() *http.Request {
			r := f.request(t, good)
			f.signer.Sign(r.Header, http.MethodPost, r.URL.Path, []byte(good.body), time.Now().Add(2*time.Minute))
			return r
		}, 401, tcc.CodeUnauthorized},
		{"signed body swapped", func() *http.Request {
			r := f.request(t, good)
			r.Body = io.NopCloser(strings.NewReader(`{"pool":1,"amount":99}`))
			return r
		}, 401, tcc.CodeUnauthorized},
		{"signature moved to another branch", func() *http.Request {
			r := f.request(t, good)
			r.Header.Set(tcc.HeaderBranchID, "b2")
			return r
		}, 401, tcc.CodeUnauthorized},
		{"signature moved to another phase", func() *http.Request {
			r := f.request(t, good)
			r.URL.Path = "/tcc/hold/confirm"
			return r
		}, 401, tcc.CodeUnauthorized},
		{"signature garbage", func() *http.Request {
			r := f.request(t, good)
			r.Header.Set("Authorization", tcc.AuthScheme+" t=abc,s=!!")
			return r
		}, 401, tcc.CodeUnauthorized},
		{"past deadline", func() *http.Request {
			c := good
			c.deadline = time.Now().Add(-time.Millisecond)
			return f.request(t, c)
		}, 409, tcc.CodeExpired},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := do(t, tc.req())
			if a.status != tc.status || a.code != tc.code {
				t.Fatalf("got %d %s, want %d %s", a.status, a.code, tc.status, tc.code)
			}
			if p := f.pool(t); p.Available != 100 || p.Held != 0 || p.Spent != 0 {
				t.Fatalf("pool changed: %+v", p)
			}
			if n := f.barrierRows(t); n != 0 {
				t.Fatalf("%d barrier rows written", n)
			}
		})
	}
	// The good call itself goes through, so the table above really spoiled one thing.
	if a := do(t, f.request(t, good)); a.status != http.StatusOK {
		t.Fatalf("good call: %+v", a)
	}
	if p := f.pool(t); p.Held != 10 {
		t.Fatalf("good call held %d", p.Held)
	}
}

// A Confirm or Cancel whose per-call deadline passed still runs: refusing could stall
// the transaction forever under clock skew.
func TestHandlerLateSecondPhaseRuns(t *testing.T) {
	f := newFixture(t, sqliteDB(t), 100)
	body := `{"pool":1,"amount":10}`
	if a := do(t, f.request(t, call{xid: "x", branch: "b", phase: tcc.PhaseTry, body: body})); a.status != 200 {
		t.Fatalf("try: %+v", a)
	}
	a := do(t, f.request(t, call{xid: "x", branch: "b", phase: tcc.PhaseCancel, body: body, deadline: time.Now().Add(-time.Hour)}))
	if a.status != 200 || a.result.Outcome != tcc.OutcomeApplied {
		t.Fatalf("late cancel: %+v", a)
	}
	if p := f.pool(t); p.Available != 100 || p.Held != 0 {
		t.Fatalf("pool %+v", p)
	}
}

func TestInsecureParticipantNeedsNoSignature(t *testing.T) {
	db := sqliteDB(t)
	migrateTest(t, db)
	if _, err := tcc.NewParticipant(tcc.ParticipantConfig{DB: db}); err == nil {
		t.Fatal("a participant with neither verifier nor Insecure was accepted")
	}
	p, err := tcc.NewParticipant(tcc.ParticipantConfig{DB: db, Insecure: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	if err := tcc.Mount(r, p, holdAction()); err != nil {
		t.Fatal(err)
	}
	if err := db.AutoMigrate(&pool{}); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/tcc/hold/cancel", bytes.NewBufferString(`{"pool":1,"amount":1}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(tcc.HeaderXID, "x")
	req.Header.Set(tcc.HeaderBranchID, "b")
	req.Header.Set(tcc.HeaderDeadline, tcc.FormatDeadline(time.Now().Add(time.Minute)))
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	if w.Code != 200 || !strings.Contains(w.Body.String(), string(tcc.OutcomeEmptyCompensation)) {
		t.Fatalf("unsigned call in insecure mode: %d %s", w.Code, w.Body)
	}
}

func TestMountRejectsIncompleteAction(t *testing.T) {
	db := sqliteDB(t)
	p, err := tcc.NewParticipant(tcc.ParticipantConfig{DB: db, Insecure: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	a := holdAction()
	a.Cancel = nil
	if err := tcc.Mount(gin.New(), p, a); err == nil {
		t.Fatal("an action without Cancel was mounted")
	}
	for _, name := range []string{"bad/name", "", ".", "..", strings.Repeat("a", 65)} {
		a = holdAction()
		a.Name = name
		if err := tcc.Mount(gin.New(), p, a); err == nil {
			t.Errorf("an action named %q was mounted", name)
		}
	}
}

// TestHandlerSecondPhaseRefusals: a Confirm without an applied Try, a Confirm after the
// Cancel and a Cancel after the Confirm answer 409 with their stable codes, change
// nothing (another order's reservation in the pool stays whole) and are logged at Error
// level, since each means lost data or a coordinator bug.
func TestHandlerSecondPhaseRefusals(t *testing.T) {
	f := newFixture(t, sqliteDB(t), 100)
	body := `{"pool":1,"amount":10}`
	steps := []struct {
		xid    string
		phase  tcc.Phase
		status int
		code   string
	}{
		{"other", tcc.PhaseTry, 200, ""}, // another order's reservation: held 10
		{"x1", tcc.PhaseConfirm, 409, tcc.CodeNotTried},
		{"x2", tcc.PhaseTry, 200, ""},
		{"x2", tcc.PhaseCancel, 200, ""},
		{"x2", tcc.PhaseConfirm, 409, tcc.CodePhaseConflict},
		{"x3", tcc.PhaseTry, 200, ""},
		{"x3", tcc.PhaseConfirm, 200, ""},
		{"x3", tcc.PhaseCancel, 409, tcc.CodePhaseConflict},
	}
	errorsLogged := 0
	for _, s := range steps {
		a := do(t, f.request(t, call{xid: s.xid, branch: "b1", phase: s.phase, body: body}))
		if a.status != s.status || a.code != s.code {
			t.Fatalf("%s %s: %d %s, want %d %s", s.xid, s.phase, a.status, a.code, s.status, s.code)
		}
		if s.status != 200 {
			errorsLogged++
		}
		if n := strings.Count(f.logs.String(), "level=ERROR"); n != errorsLogged {
			t.Fatalf("%s %s: %d lines logged at Error level, want %d:\n%s", s.xid, s.phase, n, errorsLogged, f.logs)
		}
	}
	// other: held 10; x2: held and released; x3: held and spent.
	if p := f.pool(t); p.Available != 80 || p.Held != 10 || p.Spent != 10 {
		t.Fatalf("pool %+v, want 80/10/10", p)
	}
	var n int64
	if err := f.db.Table(tcc.BarrierTable).Where("xid = ?", "x1").Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("the refused confirm left %d barrier rows", n)
	}
}

// TestHandlerDatabaseUnavailable: when the database cannot be reached (nothing listens
// on its port, or the server hangs up on every connection) every phase answers 503
// TCC_RETRY with Retry-After, never 500: the coordinator calls again later.
func TestHandlerDatabaseUnavailable(t *testing.T) {
	// unreachable opens a pool on addr without pinging it: the first statement dials.
	unreachable := func(t *testing.T, addr string) *gorm.DB {
		cfg := mysqldrv.NewConfig()
		cfg.User, cfg.Net, cfg.Addr, cfg.DBName = "root", "tcp", addr, "tcc"
		cfg.Timeout, cfg.ParseTime, cfg.InterpolateParams = 5*time.Second, true, true
		cfg.Logger = &mysqldrv.NopLogger{} // the driver would print every failed handshake
		conn, err := mysqldrv.NewConnector(cfg)
		if err != nil {
			t.Fatal(err)
		}
		sqlDB := sql.OpenDB(conn)
		t.Cleanup(func() { _ = sqlDB.Close() })
		db, err := gorm.Open(mysql.New(mysql.Config{Conn: sqlDB, SkipInitializeWithVersion: true}),
			&gorm.Config{DisableAutomaticPing: true, Logger: logger.Default.LogMode(logger.Silent)})
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	cases := []struct {
		name string
		db   func(t *testing.T) *gorm.DB
	}{
		{"nothing listens", func(t *testing.T) *gorm.DB {
			var lc net.ListenConfig
			ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			if err := ln.Close(); err != nil { // the port is now closed: connections are refused
				t.Fatal(err)
			}
			return unreachable(t, addr)
		}},
		{"server hangs up", func(t *testing.T) *gorm.DB {
			var lc net.ListenConfig
			ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					_ = c.Close()
				}
			}()
			t.Cleanup(func() { _ = ln.Close(); <-done })
			return unreachable(t, ln.Addr().String())
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := serveFixture(t, tc.db(t))
			for _, ph := range []tcc.Phase{tcc.PhaseTry, tcc.PhaseConfirm, tcc.PhaseCancel} {
				a := do(t, f.request(t, call{xid: "x1", branch: "b1", phase: ph, body: `{"pool":1,"amount":10}`}))
				if a.status != http.StatusServiceUnavailable || a.code != tcc.CodeRetry || a.header.Get("Retry-After") == "" {
					t.Errorf("%s: %d %s Retry-After %q, want 503 %s with Retry-After", ph, a.status, a.code, a.header.Get("Retry-After"), tcc.CodeRetry)
				}
			}
		})
	}
}
