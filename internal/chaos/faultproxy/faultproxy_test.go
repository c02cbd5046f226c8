package faultproxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// upstream counts the requests that reached it and echoes their body.
func upstream(t *testing.T) (*httptest.Server, *atomic.Int64, chan struct{}) {
	var n atomic.Int64
	seen := make(chan struct{}, 100)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Sig", r.Header.Get("Authorization"))
		_, _ = w.Write(b)
		seen <- struct{}{}
	}))
	t.Cleanup(s.Close)
	return s, &n, seen
}

// post sends one signed POST through p and returns the answer's body and echoed
// signature as "body|sig"; an error means no answer.
func post(ctx context.Context, p *Proxy) (string, error) {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL()+"/tcc/x/try?q=1", strings.NewReader("payload"))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "sig")
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return string(b) + "|" + resp.Header.Get("X-Sig"), nil
}

func TestFaults(t *testing.T) {
	cases := []struct {
		name      string
		rates     Rates
		wantErr   bool
		upstreams int64
		kind      string
	}{
		{"clean", Rates{}, false, 1, KindClean},
		{"latency", Rates{Latency: 1, MaxLatency: time.Millisecond}, false, 1, KindLatency},
		{"refused", Rates{Refuse: 1}, true, 0, KindRefuse},
		{"lost answer", Rates{LoseAnswer: 1}, true, 1, KindLoseAnswer},
		{"duplicated", Rates{Duplicate: 1}, false, 2, KindDuplicate},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			up, n, seen := upstream(t)
			p, err := New(t.Context(), "127.0.0.1:0", up.URL, tc.rates, 1)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = p.Close() })
			got, err := post(t.Context(), p)
			if tc.wantErr != (err != nil) {
				t.Fatalf("error %v, want error=%v", err, tc.wantErr)
			}
			if err == nil && got != "payload|sig" {
				t.Fatalf("answer %q: body or headers not forwarded", got)
			}
			for i := int64(0); i < tc.upstreams; i++ {
				<-seen // the duplicate may land after the answer
			}
			if n.Load() != tc.upstreams {
				t.Fatalf("upstream saw %d requests, want %d", n.Load(), tc.upstreams)
			}
			if p.Stats()[tc.kind] != 1 {
				t.Fatalf("stats %v, want one %s", p.Stats(), tc.kind)
			}
		})
	}
}

func TestRatesMix(t *testing.T) {
	up, _, _ := upstream(t)
	p, err := New(t.Context(), "127.0.0.1:0", up.URL, Rates{Refuse: 0.5}, 42)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = post(t.Context(), p) }()
	}
	wg.Wait()
	s := p.Stats()
	if s[KindRefuse]+s[KindClean] != 200 || s[KindRefuse] < 60 || s[KindRefuse] > 140 {
		t.Fatalf("stats %v: want about half of 200 refused", s)
	}
	if err := p.SetRates(Rates{Refuse: 0.8, Duplicate: 0.5}); err == nil {
		t.Fatal("rates over 1 accepted")
	}
	if _, err := New(t.Context(), "127.0.0.1:0", up.URL, Rates{Latency: -1}, 1); err == nil {
		t.Fatal("negative rate accepted")
	}
}
