package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer ok.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer bad.Close()
	if err := run(context.Background(), []string{ok.URL}); err != nil {
		t.Errorf("healthy server: %v", err)
	}
	if err := run(context.Background(), []string{bad.URL}); err == nil {
		t.Error("a 503 passed the check")
	}
	if err := run(context.Background(), nil); err == nil {
		t.Error("no URL passed the check")
	}
	if err := run(context.Background(), []string{"http://127.0.0.1:1/"}); err == nil {
		t.Error("a closed port passed the check")
	}
}
