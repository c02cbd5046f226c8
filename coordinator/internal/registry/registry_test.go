package registry

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tccsuite/tccsuite/pkg/tcc"
)

var key = []byte("registry-test-key-0123456789")

func TestNewRefusesWhatItShouldNotCall(t *testing.T) {
	for name, raw := range map[string]string{ //nolint:gosec // G101: URLs with credentials are among the inputs checked to be refused
		"p1":                                  "ftp://host/x",
		"p2":                                  "http://user:pw@host",
		"p3":                                  "http://host/?a=1",
		"p4":                                  "http://host/#f",
		"p5":                                  "host:8080",
		"bad/name":                            "http://host",
		"":                                    "http://host",
		"too-long-" + strings.Repeat("x", 64): "http://host",
	} {
		if _, err := New(map[string]string{name: raw}, Options{}); err == nil {
			t.Errorf("participant %q = %q was accepted", name, raw)
		}
	}
	r, err := New(map[string]string{"inventory": "http://inventory:8081/base/"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := r.Get("inventory"); !ok || p.BaseURL.Path != "/base" {
		t.Fatalf("got %+v", p)
	}
	if _, ok := r.Get("http://inventory:8081"); ok {
		t.Fatal("a URL was taken for a participant name")
	}
}

// TestDoSignsClassifiesAndNeverFollowsRedirects: every call is signed as pkg/tcc
// verifies; answers are classified by status code alone; a redirect is an unknown
// outcome and is never followed (the coordinator calls only what the operator
// configured).
func TestDoSignsClassifiesAndNeverFollowsRedirects(t *testing.T) {
	var elsewhere atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	v, err := tcc.NewVerifier(time.Minute, key)
	if err != nil {
		t.Fatal(err)
	}
	answer := map[string]func(w http.ResponseWriter){
		"ok": func(w http.ResponseWriter) { _, _ = w.Write([]byte(`{"outcome":"applied"}`)) },
		"refuse": func(w http.ResponseWriter) {
			w.WriteHeader(409)
			_, _ = w.Write([]byte(`{"code":"OUT_OF_STOCK","message":"none left"}`))
		},
		"badcall": func(w http.ResponseWriter) {
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`{"code":"TCC_BAD_PAYLOAD","message":"x"}`))
		},
		"down":     func(w http.ResponseWriter) { w.WriteHeader(503); _, _ = w.Write([]byte(`not json`)) },
		"redirect": func(w http.ResponseWriter) { w.Header().Set("Location", other.URL+"/steal"); w.WriteHeader(307) },
	}
	var unsigned atomic.Int64
	part := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := v.Verify(r.Header, r.Method, r.URL.Path, body, time.Now()); err != nil {
			unsigned.Add(1)
			w.WriteHeader(401)
			return
		}
		if r.URL.Path != "/base/tcc/"+r.Header.Get(tcc.HeaderBranchID)+"/try" || r.Header.Get(tcc.HeaderRequestID) != "req-9" {
			w.WriteHeader(404)
			return
		}
		answer[r.Header.Get(tcc.HeaderBranchID)](w)
	}))
	defer part.Close()
	s, _ := tcc.NewSigner(key)
	r, err := New(map[string]string{"p": part.URL + "/base"}, Options{Signer: s})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p, _ := r.Get("p")
	for branch, want := range map[string]struct {
		class tcc.StatusClass
		code  string
	}{
		"ok": {tcc.ClassDone, ""}, "refuse": {tcc.ClassRefused, "OUT_OF_STOCK"}, "badcall": {tcc.ClassBadCall, "TCC_BAD_PAYLOAD"},
		"down": {tcc.ClassUnknown, ""}, "redirect": {tcc.ClassUnknown, ""},
	} {
		payload, _ := json.Marshal(map[string]int{"n": 1})
		res := p.Do(context.Background(), Call{XID: "x1", BranchID: branch, Action: branch, Phase: tcc.PhaseTry,
			Payload: payload, Deadline: time.Now().Add(time.Minute), RequestID: "req-9"})
		if res.Class != want.class || res.Code != want.code {
			t.Errorf("%s: got %+v, want class %v code %q", branch, res, want.class, want.code)
		}
	}
	if n := unsigned.Load(); n != 0 {
		t.Errorf("%d calls failed signature verification", n)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("a redirect was followed %d times", n)
	}
}
