package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(ok.Close)
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(bad.Close)
	cases := []struct {
		name   string
		args   []string
		wantOK bool
	}{
		{"healthy server", []string{ok.URL}, true},
		{"a 503", []string{bad.URL}, false},
		{"no URL", nil, false},
		{"two URLs", []string{ok.URL, ok.URL}, false},
		{"a closed port", []string{"http://127.0.0.1:1/"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := run(t.Context(), tc.args)
			if (err == nil) != tc.wantOK {
				t.Fatalf("run(%q) = %v, want ok=%v", tc.args, err, tc.wantOK)
			}
		})
	}
}
