// Package metrics holds the coordinator's Prometheus instruments, registered on a
// registry of the caller's (one per running coordinator, so that several can live in
// one process).
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tccsuite/tccsuite/internal/httpx"
)

// Metrics are the coordinator's instruments.
type Metrics struct {
	// Registry holds every instrument, the Go and process collectors included.
	Registry *prometheus.Registry
	// HTTP are the API's request instruments (the shared HTTP seam's).
	HTTP *httpx.Metrics
	// Transactions counts transactions entering each status (TRYING at begin, the
	// decision, the final status).
	Transactions *prometheus.CounterVec
	// BranchCalls counts participant calls by participant, phase and outcome (done,
	// refused, bad_call, unknown, breaker_open).
	BranchCalls *prometheus.CounterVec
	// BranchCallSeconds is the latency of participant calls.
	BranchCallSeconds *prometheus.HistogramVec
	// DecisionSeconds is begin → durable decision; CompletionSeconds is begin → every
	// branch finished.
	DecisionSeconds   *prometheus.HistogramVec
	CompletionSeconds *prometheus.HistogramVec
	// InFlight is the number of transactions this instance is driving.
	InFlight prometheus.Gauge
	// Attention is the number of transactions this instance drives that are flagged.
	Attention prometheus.Gauge
	// Takeovers counts transactions taken over from dead owners.
	Takeovers prometheus.Counter
	// BreakerOpen is 1 while a participant's breaker is open or half-open.
	BreakerOpen *prometheus.GaugeVec
	// BatchSize is the number of items per group commit, by kind (begin, decide, results).
	BatchSize *prometheus.HistogramVec
	// LeaseLost counts lost etcd sessions.
	LeaseLost prometheus.Counter
	// NotApplied counts branches whose Confirm or Cancel the participant refused as
	// final (TCC_NOT_TRIED, TCC_PHASE_CONFLICT), by participant, phase and code. Each
	// also flags its transaction for attention.
	NotApplied *prometheus.CounterVec
	// StoreErrors counts failed database writes that are being retried, by operation
	// (decide, results): they rise while the database is unreachable.
	StoreErrors *prometheus.CounterVec
}

// New creates the instruments on a fresh registry, with the Go and process collectors
// and the HTTP instruments of service "coordinator".
func New() *Metrics {
	h := httpx.NewMetrics("coordinator")
	r := h.Registry
	lat := []float64{.001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5, 10, 30}
	m := &Metrics{
		Registry: r,
		HTTP:     h,
		Transactions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tcc_coordinator_transactions_total", Help: "Global transactions entering each status.",
		}, []string{"status"}),
		BranchCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tcc_coordinator_branch_calls_total", Help: "Participant calls by participant, phase and outcome.",
		}, []string{"participant", "phase", "outcome"}),
		BranchCallSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tcc_coordinator_branch_call_seconds", Help: "Participant call latency.", Buckets: lat,
		}, []string{"participant", "phase"}),
		DecisionSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tcc_coordinator_decision_seconds", Help: "From begin to the durable decision.", Buckets: lat,
		}, []string{"decision"}),
		CompletionSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tcc_coordinator_completion_seconds", Help: "From begin to every branch finished.", Buckets: lat,
		}, []string{"status"}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tcc_coordinator_in_flight", Help: "Transactions this instance is driving.",
		}),
		Attention: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tcc_coordinator_attention", Help: "Transactions driven here that are flagged for attention.",
		}),
		Takeovers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tcc_coordinator_takeovers_total", Help: "Transactions taken over from a dead coordinator.",
		}),
		BreakerOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tcc_coordinator_breaker_open", Help: "1 while the participant's circuit breaker is open or half-open.",
		}, []string{"participant"}),
		BatchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tcc_coordinator_batch_size", Help: "Items per group commit.", Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512},
		}, []string{"kind"}),
		LeaseLost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tcc_coordinator_lease_lost_total", Help: "etcd sessions lost.",
		}),
		NotApplied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tcc_coordinator_branches_not_applied_total", Help: "Confirm/Cancel calls refused as final by the participant (branch NOT_APPLIED).",
		}, []string{"participant", "phase", "code"}),
		StoreErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tcc_coordinator_store_errors_total", Help: "Failed database writes being retried, by operation.",
		}, []string{"op"}),
	}
	r.MustRegister(m.Transactions, m.BranchCalls, m.BranchCallSeconds, m.DecisionSeconds, m.CompletionSeconds,
		m.InFlight, m.Attention, m.Takeovers, m.BreakerOpen, m.BatchSize, m.LeaseLost, m.NotApplied, m.StoreErrors)
	return m
}
