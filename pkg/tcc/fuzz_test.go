package tcc_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// FuzzPhaseCall throws arbitrary headers and bodies at a participant's Try endpoint. The
// answer must always be a JSON body with a status the protocol defines, a 5xx never comes
// from bad input, and a malformed call never changes the business state.
func FuzzPhaseCall(f *testing.F) {
	f.Add("x1", "b1", "2099-01-01T00:00:00.000Z", "application/json", []byte(`{"pool":1,"amount":5}`))
	f.Add("", "b1", "2099-01-01T00:00:00Z", "application/json", []byte(`{}`))
	f.Add("x 1", "b/1", "yesterday", "text/plain", []byte(`{"pool":1,"amount":`))
	f.Add("x1", "b1", "1970-01-01T00:00:00Z", "application/json; charset=utf-8", []byte(`{"pool":1,"amount":-1}`))
	f.Add("x1", "b1", "2099-01-01T00:00:00Z", "application/json", []byte(`{"pool":1,"amount":5}{"x":1}`))
	f.Add("x1", "b1", "2099-01-01T00:00:00Z", "application/json", []byte("\xff\xfe"))

	db := sqliteDB(f)
	migrateTest(f, db)
	if err := db.AutoMigrate(&pool{}); err != nil {
		f.Fatal(err)
	}
	if err := db.Create(&pool{ID: 1, Available: 1 << 40}).Error; err != nil {
		f.Fatal(err)
	}
	p, err := tcc.NewParticipant(tcc.ParticipantConfig{DB: db, Insecure: true, MaxBodyBytes: 512, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	r := gin.New()
	if err := tcc.Mount(r, p, holdAction()); err != nil {
		f.Fatal(err)
	}
	allowed := map[int]bool{200: true, 400: true, 409: true, 413: true, 415: true}
	f.Fuzz(func(t *testing.T, xid, branch, deadline, ctype string, body []byte) {
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/tcc/hold/try", bytes.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		req.Header.Set(tcc.HeaderXID, xid)
		req.Header.Set(tcc.HeaderBranchID, branch)
		req.Header.Set(tcc.HeaderDeadline, deadline)
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		if !allowed[w.Code] {
			t.Fatalf("status %d for xid=%q branch=%q deadline=%q ctype=%q body=%q: %s", w.Code, xid, branch, deadline, ctype, body, w.Body)
		}
		var out map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatalf("status %d: body %q is not JSON", w.Code, w.Body)
		}
		if w.Code != 200 {
			if code, _ := out["code"].(string); code == "" {
				t.Fatalf("status %d without a code: %s", w.Code, w.Body)
			}
		}
		if dotted := func(s string) bool { return s == "." || s == ".." }; (dotted(xid) || dotted(branch)) && w.Code != 400 {
			t.Fatalf("status %d for a dot-segment ID xid=%q branch=%q: %s", w.Code, xid, branch, w.Body)
		}
	})
}

// FuzzMetaFromHeader: propagation never fails and never keeps a malformed value.
func FuzzMetaFromHeader(f *testing.F) {
	f.Add("req-1", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "k=v", "x1", "b1", "2030-01-01T00:00:00.000Z")
	f.Add("", "", "", "", "", "")
	f.Add("a\nb", "\x00", "\xff", "x y", "b/1", "not-a-time")
	f.Fuzz(func(t *testing.T, rid, tp, ts, xid, branch, deadline string) {
		h := http.Header{}
		h.Set(tcc.HeaderRequestID, rid)
		h.Set(tcc.HeaderTraceParent, tp)
		h.Set(tcc.HeaderTraceState, ts)
		h.Set(tcc.HeaderXID, xid)
		h.Set(tcc.HeaderBranchID, branch)
		h.Set(tcc.HeaderDeadline, deadline)
		m := tcc.MetaFromHeader(h)
		if m.XID != "" && !tcc.ValidID(m.XID) || m.BranchID != "" && !tcc.ValidID(m.BranchID) {
			t.Fatalf("kept a malformed ID: %+v", m)
		}
		out := http.Header{}
		m.Inject(out) // must not panic, and must round-trip
		if back := tcc.MetaFromHeader(out); back.XID != m.XID || back.RequestID != m.RequestID || !back.Deadline.Equal(m.Deadline.Truncate(time.Millisecond)) {
			t.Fatalf("round trip: %+v → %+v", m, back)
		}
	})
}

// FuzzVerify: no Authorization header that was not made with the key verifies, and none
// makes the verifier panic.
func FuzzVerify(f *testing.F) {
	s, _ := tcc.NewSigner(testKey)
	h := http.Header{}
	h.Set(tcc.HeaderXID, "x1")
	s.Sign(h, "POST", "/tcc/a/try", []byte("{}"), time.Unix(1_800_000_000, 0))
	f.Add(h.Get("Authorization"))
	f.Add(tcc.AuthScheme + " t=1800000000000,s=")
	f.Add(tcc.AuthScheme + " s=AAAA,t=-1")
	f.Add("Bearer token")
	f.Add("")
	v, _ := tcc.NewVerifier(time.Minute, testKey)
	f.Fuzz(func(t *testing.T, auth string) {
		hh := http.Header{}
		hh.Set(tcc.HeaderXID, "x1")
		hh.Set("Authorization", auth)
		// Signed for another body: must never verify, whatever the header says.
		if err := v.Verify(hh, "POST", "/tcc/a/try", []byte("{\"other\":1}"), time.Unix(1_800_000_000, 0)); err == nil {
			t.Fatalf("%q verified a body it was not made for", auth)
		}
	})
}

// FuzzParseDeadline: any accepted deadline formats back to a value that parses to the same
// instant (at millisecond precision).
func FuzzParseDeadline(f *testing.F) {
	for _, s := range []string{"2030-01-01T00:00:00.000Z", "2030-01-01T00:00:00+02:00", "2030-01-01T00:00:00.123456789Z", "", "0000-00-00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := tcc.ParseDeadline(s)
		if err != nil {
			return
		}
		back, err := tcc.ParseDeadline(tcc.FormatDeadline(d))
		if err != nil || !back.Equal(d.Truncate(time.Millisecond)) {
			t.Fatalf("%q → %v → %q → %v, %v", s, d, tcc.FormatDeadline(d), back, err)
		}
	})
}
