package tcc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// PurgeConfig bounds one Purge.
type PurgeConfig struct {
	// Retention: barrier rows younger than this are kept. It must be far longer than any
	// transaction can stay open (days, not minutes).
	Retention time.Duration
	// BatchSize is the number of branches removed per statement (default 500).
	BatchSize int
}

// Purge deletes the barrier rows of finished branches whose rows are all older than the
// retention, in batches of BatchSize branches, until none is left or ctx ends. A branch
// is finished once its Confirm or Cancel row exists; an open branch (a Try with neither)
// is never purged, whatever its age, so a late Confirm or Cancel still finds its Try.
// All rows of one branch go in the same statement: a branch is never left half purged.
// After a purge the barrier no longer knows the branch: a very late duplicate Try is
// refused by its X-TCC-Deadline (ErrExpired) alone, a late Confirm finds no Try and is
// refused (ErrNotTried), and a late Cancel compensates nothing (empty compensation); so
// the retention must outlast any redelivery.
//
// Purge is safe to run on several replicas at once: a DELETE of rows another replica
// removed first simply affects fewer rows. It returns the number of rows deleted.
func Purge(ctx context.Context, db *gorm.DB, cfg PurgeConfig) (int64, error) {
	if cfg.Retention <= 0 {
		return 0, errors.New("tcc: purge needs a positive retention")
	}
	batch := cfg.BatchSize
	if batch <= 0 {
		batch = 500
	}
	cutoff := time.Now().UTC().Add(-cfg.Retention)
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		var keys []struct {
			XID      string `gorm:"column:xid"`
			BranchID string `gorm:"column:branch_id"`
		}
		// Finished branches whose second-phase row is old. Their try row is never younger
		// than their second-phase row, so it is old too.
		err := db.WithContext(ctx).Table(BarrierTable).
			Select("xid, branch_id").
			Where("phase IN ? AND created_at < ?", []string{string(PhaseConfirm), string(PhaseCancel)}, cutoff).
			Limit(batch).
			Scan(&keys).Error
		if err != nil {
			return total, fmt.Errorf("tcc: purge scan: %w", err)
		}
		if len(keys) == 0 {
			return total, nil
		}
		pairs := make([][]any, len(keys))
		for i, k := range keys {
			pairs[i] = []any{k.XID, k.BranchID}
		}
		res := db.WithContext(ctx).Exec("DELETE FROM "+BarrierTable+" WHERE (xid, branch_id) IN ?", pairs)
		if res.Error != nil {
			return total, fmt.Errorf("tcc: purge delete: %w", res.Error)
		}
		total += res.RowsAffected
		if len(keys) < batch || res.RowsAffected == 0 {
			// The last batch, or another replica is deleting the same rows: stop here
			// rather than spin; the next run picks up what is left.
			return total, nil
		}
	}
}

// RunPurger calls Purge every interval until ctx ends, logging through logf. It is meant
// to run in a goroutine of each participant replica.
func RunPurger(ctx context.Context, db *gorm.DB, cfg PurgeConfig, interval time.Duration, logf func(msg string, args ...any)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := Purge(ctx, db, cfg)
			if err != nil && ctx.Err() == nil {
				logf("tcc: barrier purge failed", "err", err)
			} else if n > 0 {
				logf("tcc: barrier rows purged", "rows", n)
			}
		}
	}
}
