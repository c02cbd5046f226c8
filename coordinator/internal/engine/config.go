package engine

import (
	"errors"
	"fmt"
	"time"
)

// Config tunes the engine. Start from DefaultConfig and change what you need; New
// refuses a Config that Validate refuses.
type Config struct {
	// CallTimeout bounds one Confirm or Cancel call (it is also sent as the call's
	// deadline).
	CallTimeout time.Duration
	// RetryBase and RetryCap shape the backoff between Confirm/Cancel attempts and
	// between decision attempts: exponential from RetryBase, capped at RetryCap, full
	// jitter.
	RetryBase time.Duration
	RetryCap  time.Duration
	// AttentionAfter is the number of attempts of one branch's Confirm/Cancel after
	// which the transaction is flagged for attention (it keeps being retried).
	AttentionAfter int
	// ScanInterval is the recovery scan period (KickScan also starts one).
	ScanInterval time.Duration
	// ScanPage is the number of unfinished transactions the recovery scan reads at once.
	ScanPage int
	// CompletionWait is how long a begin waiting for completion waits beyond the
	// transaction's deadline before it answers with the state it has.
	CompletionWait time.Duration
	// BatchWorkers is the number of parallel group-commit workers for begins and
	// decisions (1 for SQLite, which has one writer).
	BatchWorkers int
	// BatchMax is the largest number of begins or decisions in one group commit.
	BatchMax int
}

// Bounds of the batch sizes Validate accepts: a group commit writes every branch of
// every transaction of the batch in one statement, whose placeholders are limited.
const (
	maxBatch    = 1024
	maxScanPage = 10000
)

// DefaultConfig returns the configuration the coordinator runs with when nothing is
// set (the defaults of coordinator/README.md's configuration table).
func DefaultConfig() Config {
	return Config{
		CallTimeout:    5 * time.Second,
		RetryBase:      100 * time.Millisecond,
		RetryCap:       30 * time.Second,
		AttentionAfter: 10,
		ScanInterval:   2 * time.Second,
		ScanPage:       500,
		CompletionWait: 10 * time.Second,
		BatchWorkers:   4,
		BatchMax:       128,
	}
}

// Validate reports every field out of its range, joined in one error (nil if none).
func (c Config) Validate() error {
	var errs []error
	check := func(ok bool, format string, a ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf("engine: "+format, a...))
		}
	}
	check(c.CallTimeout > 0, "CallTimeout must be positive, not %v", c.CallTimeout)
	check(c.RetryBase > 0, "RetryBase must be positive, not %v (a zero backoff would retry in a tight loop)", c.RetryBase)
	check(c.RetryCap >= c.RetryBase, "RetryCap (%v) must be at least RetryBase (%v)", c.RetryCap, c.RetryBase)
	check(c.AttentionAfter >= 1, "AttentionAfter must be at least 1, not %d", c.AttentionAfter)
	check(c.ScanInterval > 0, "ScanInterval must be positive, not %v", c.ScanInterval)
	check(c.ScanPage >= 1 && c.ScanPage <= maxScanPage, "ScanPage must be 1..%d, not %d", maxScanPage, c.ScanPage)
	check(c.CompletionWait >= 0, "CompletionWait must not be negative, not %v", c.CompletionWait)
	check(c.BatchWorkers >= 1, "BatchWorkers must be at least 1, not %d", c.BatchWorkers)
	check(c.BatchMax >= 1 && c.BatchMax <= maxBatch, "BatchMax must be 1..%d, not %d", maxBatch, c.BatchMax)
	return errors.Join(errs...)
}
