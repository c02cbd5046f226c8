package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"
)

type result struct {
	kind    string
	latency time.Duration
}

type results struct {
	all     []result
	elapsed time.Duration
}

// report is what a run measured; printed as text or, with -json, as JSON.
type report struct {
	Mode        string         `json:"mode"`
	Wait        string         `json:"wait,omitempty"`
	Concurrency int            `json:"concurrency"`
	Branches    int            `json:"branches,omitempty"`
	Seconds     float64        `json:"seconds"`
	Requests    int            `json:"requests"`
	PerSecond   float64        `json:"requests_per_second"`
	OK          int            `json:"ok"`
	OKPerSecond float64        `json:"ok_per_second"`
	P50ms       float64        `json:"p50_ms"`
	P95ms       float64        `json:"p95_ms"`
	P99ms       float64        `json:"p99_ms"`
	MaxMs       float64        `json:"max_ms"`
	Answers     map[string]int `json:"answers"`
	// Placed is the orders mode's CONFIRMED orders as the order service lists them;
	// AnsweredButPlaced counts those whose client was not answered 201, by answer.
	Placed            int            `json:"placed,omitempty"`
	AnsweredButPlaced map[string]int `json:"answered_but_placed,omitempty"`
	Placement         []string       `json:"-"`
	Invariants        string         `json:"invariants,omitempty"`
	Violations        []string       `json:"violations,omitempty"`
}

// fill computes the figures of res; ok says which answer kinds count as successes.
func (r *report) fill(res results, ok func(kind string) bool) {
	r.Seconds = res.elapsed.Seconds()
	r.Requests = len(res.all)
	r.Answers = map[string]int{}
	lat := make([]time.Duration, 0, len(res.all))
	for _, x := range res.all {
		r.Answers[x.kind]++
		lat = append(lat, x.latency)
		if ok(x.kind) {
			r.OK++
		}
	}
	if r.Seconds > 0 {
		r.PerSecond = float64(r.Requests) / r.Seconds
		r.OKPerSecond = float64(r.OK) / r.Seconds
	}
	if len(lat) > 0 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		q := func(p float64) float64 {
			return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
		}
		r.P50ms, r.P95ms, r.P99ms = q(0.50), q(0.95), q(0.99)
		r.MaxMs = float64(lat[len(lat)-1].Microseconds()) / 1000
	}
}

// print writes the report to out, as text or as indented JSON. It is the command's
// output: a failed write has nowhere else to go, so it is not reported.
func (r report) print(out io.Writer, asJSON bool) {
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		_ = enc.Encode(r)
		return
	}
	_, _ = fmt.Fprintf(out, "\n%d requests in %.1fs: %.0f/s, %.0f ok/s\n", r.Requests, r.Seconds, r.PerSecond, r.OKPerSecond)
	_, _ = fmt.Fprintf(out, "latency: p50 %.2fms  p95 %.2fms  p99 %.2fms  max %.2fms\n", r.P50ms, r.P95ms, r.P99ms, r.MaxMs)
	_, _ = fmt.Fprintln(out, "answers by kind:")
	keys := make([]string, 0, len(r.Answers))
	for k := range r.Answers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		_, _ = fmt.Fprintf(out, "  %-40s %d\n", k, r.Answers[k])
	}
	for _, l := range r.Placement {
		_, _ = fmt.Fprintln(out, l)
	}
	for _, v := range r.Violations {
		_, _ = fmt.Fprintln(out, "  VIOLATION:", v)
	}
	if r.Invariants != "" {
		_, _ = fmt.Fprintln(out, r.Invariants)
	}
}
