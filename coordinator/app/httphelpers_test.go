package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// rawCall makes one HTTP call to the coordinator (no client-side retries) and returns
// the status, the Retry-After header and the error code of a non-2xx answer.
func rawCall(t testing.TB, method, u string, body any) (status int, retryAfter, code string) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer func() { _ = resp.Body.Close() }()
	var eb tcc.ErrorBody
	if resp.StatusCode >= 300 {
		_ = json.NewDecoder(resp.Body).Decode(&eb)
	}
	return resp.StatusCode, resp.Header.Get("Retry-After"), eb.Code
}

// metric returns the value of the sample whose line starts with prefix (name and
// labels as /metrics prints them), or -1 if there is none.
func metric(t testing.TB, base, prefix string) float64 {
	t.Helper()
	resp, err := httpGet(t, base+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, prefix+" ") {
			v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(l, prefix)), 64)
			if err != nil {
				t.Fatalf("metric line %q: %v", l, err)
			}
			return v
		}
	}
	return -1
}

func branchOf(tx *tcc.Transaction, participant string) tcc.BranchInfo {
	for _, b := range tx.Branches {
		if b.Participant == participant {
			return b
		}
	}
	return tcc.BranchInfo{}
}

// httpGet makes a GET (no client-side retries) under the background context.
func httpGet(t testing.TB, u string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	return http.DefaultClient.Do(req)
}
