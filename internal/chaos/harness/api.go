package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// The harness's calls to the suite's public HTTP APIs: the admin PUTs that seed and
// change prices, the GETs the snapshot and the quiescence wait read, and the
// coordinators' metrics.

// admin PUTs body to url with the admin token and wants a 2xx. The admin PUTs set
// absolute figures, so a retry is harmless; admin itself does not retry.
func (r *chaosRun) admin(ctx context.Context, url, body string) error {
	resp, err := r.adminPut(ctx, url, body)
	if err != nil {
		return fmt.Errorf("harness: seed %s: %w", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("harness: seed %s: %s %s", url, resp.Status, b)
	}
	return nil
}

// adminJSON PUTs body to url with the admin token and decodes the 2xx answer into out.
func (r *chaosRun) adminJSON(ctx context.Context, url, body string, out any) error {
	resp, err := r.adminPut(ctx, url, body)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("PUT %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// adminPut sends one PUT of a JSON body with the admin token; the caller closes the body.
func (r *chaosRun) adminPut(ctx context.Context, url, body string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+adminToken)
	return r.http.Do(req)
}

// getJSON GETs url into `into`. A transport error or a 5xx (a process restarting, the
// database just back) is retried for up to 20 seconds, so that reads at rest do not fail
// on a pool's first stale connection; any other answer is returned at once.
func (r *chaosRun) getJSON(ctx context.Context, url string, into any) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, err := r.getJSONStatus(ctx, url, into)
		retry := status == 0 || status >= 500
		if err == nil || !retry || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		r.pause(ctx, 200*time.Millisecond)
	}
}

// getJSONStatus is one GET of url decoded into `into`; status 0 means no HTTP answer.
func (r *chaosRun) getJSONStatus(ctx context.Context, url string, into any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+clientToken) // the coordinators require it; the services ignore it
	resp, err := r.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("GET %s: %s %s", url, resp.Status, bytes.TrimSpace(b))
	}
	return http.StatusOK, json.Unmarshal(b, into)
}

// takeoversMetric is the coordinators' counter of transactions taken over from a dead
// coordinator.
const takeoversMetric = "tcc_coordinator_takeovers_total "

// scrapeTakeovers reads coordinator c's takeover counter from /metrics; 0 when c is not
// running or the scrape fails (the counter restarts at 0 with each process, so the
// harness scrapes it before every kill and at the end).
func (r *chaosRun) scrapeTakeovers(ctx context.Context, c *proc) int64 {
	if !c.running() {
		return 0
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url()+"/metrics", nil)
	if err != nil {
		return 0
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return 0
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, takeoversMetric); ok {
			var n float64
			if _, err := fmt.Sscanf(v, "%g", &n); err != nil {
				return 0
			}
			return int64(n)
		}
	}
	return 0
}
