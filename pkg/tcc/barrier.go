package tcc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// BarrierTable is the name of the barrier table in every participant's database.
const BarrierTable = "tcc_barrier"

// barrierRow is one row of tcc_barrier. The primary key (xid, branch_id, phase) is the
// unique key the algorithm relies on.
type barrierRow struct {
	XID         string    `gorm:"column:xid;primaryKey"`
	BranchID    string    `gorm:"column:branch_id;primaryKey"`
	Phase       string    `gorm:"column:phase;primaryKey"`
	OriginPhase string    `gorm:"column:origin_phase"`
	CreatedAt   time.Time `gorm:"column:created_at"`
}

func (barrierRow) TableName() string { return BarrierTable }

// Migrate creates tcc_barrier if it does not exist. It is idempotent and safe to run
// from several replicas at start. MySQL (and MariaDB) and SQLite are supported; the ID
// columns are ASCII with a binary collation on MySQL, so IDs differing only in case never
// collide whatever the schema's default collation.
func Migrate(ctx context.Context, db *gorm.DB) error {
	var stmts []string
	switch name := db.Name(); name {
	case "mysql":
		stmts = []string{`CREATE TABLE IF NOT EXISTS tcc_barrier (
  xid          VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  branch_id    VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  phase        VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  origin_phase VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  created_at   DATETIME(3) NOT NULL,
  PRIMARY KEY (xid, branch_id, phase),
  KEY idx_tcc_barrier_created (created_at)
) ENGINE=InnoDB`}
	case "sqlite":
		stmts = []string{`CREATE TABLE IF NOT EXISTS tcc_barrier (
  xid          TEXT NOT NULL,
  branch_id    TEXT NOT NULL,
  phase        TEXT NOT NULL,
  origin_phase TEXT NOT NULL,
  created_at   DATETIME NOT NULL,
  PRIMARY KEY (xid, branch_id, phase)
) WITHOUT ROWID`,
			`CREATE INDEX IF NOT EXISTS idx_tcc_barrier_created ON tcc_barrier (created_at)`}
	default:
		return fmt.Errorf("tcc: migrate: unsupported database %q", name)
	}
	for _, s := range stmts {
		if err := db.WithContext(ctx).Exec(s).Error; err != nil {
			return fmt.Errorf("tcc: migrate: %w", err)
		}
	}
	return nil
}

// BusinessFunc is the business change of one phase. It must make every change through
// tx, which is the local transaction that also holds the barrier rows: the change and
// the barrier commit together or not at all. Returning an error rolls both back.
type BusinessFunc func(tx *gorm.DB) error

// Barrier guards the phases of a participant's branches against duplicate calls, empty
// compensation and suspension (docs/design.md §3). It is safe for concurrent use.
type Barrier struct {
	db *gorm.DB
}

// NewBarrier returns a Barrier over db, whose schema must hold tcc_barrier (Migrate).
//
// On MySQL or MariaDB the connection must keep the driver's clientFoundRows off (its
// default): the barrier tells a duplicate by an insert that affected no row, and with
// clientFoundRows the server counts a found row as affected, so duplicates would apply
// again. Sessions must also keep autocommit on and the isolation level at REPEATABLE
// READ (the default) or READ COMMITTED.
func NewBarrier(db *gorm.DB) *Barrier { return &Barrier{db: db} }

// Run runs fn for b in one local transaction with the barrier rows, and says what
// happened:
//
//   - Try: OutcomeApplied (fn ran and committed), OutcomeDuplicate (an earlier Try had
//     committed; fn did not run), or ErrSuspended (its Cancel ran first; fn did not run
//     and never will). A Try whose ctx deadline has passed returns ErrExpired and
//     touches nothing.
//   - Confirm: fn runs only for a branch whose Try was applied here and which was not
//     cancelled. OutcomeApplied (fn ran and committed), OutcomeDuplicate (an earlier
//     Confirm had committed; fn did not run), ErrNotTried (no Try of this branch was
//     applied here: it never arrived, rolled back, or its rows were purged; fn did not
//     run and nothing was written, so a Try arriving later is still applied), or
//     ErrPhaseConflict (the branch's Cancel ran first; fn did not run, nothing written).
//   - Cancel: fn runs only for a branch whose Try was applied here and which was not
//     confirmed. OutcomeApplied (fn compensated the applied Try), OutcomeDuplicate,
//     OutcomeEmptyCompensation (no Try had committed: fn did not run, and the row
//     written now blocks a late Try), or ErrPhaseConflict (the branch's Confirm ran
//     first; fn did not run, nothing written).
//
// Run is idempotent: any number of calls, in any order and concurrently, apply each
// phase's business change at most once; Confirm's and Cancel's only if Try's committed,
// and never both. The branch's 'try' row is its lock: Confirm reads it with SELECT … FOR
// UPDATE, Cancel and a duplicate Try write it (INSERT … ON DUPLICATE KEY UPDATE on
// MySQL), so the phases of one branch run one after the other, each seeing what the
// previous committed (SQLite runs every write transaction alone). Purge removes a
// finished branch's rows, after which the barrier no longer knows it: a Confirm then
// answers ErrNotTried, a Cancel is an empty compensation, and a Try is kept out only by
// its expired deadline (ErrExpired).
//
// An error from fn (or from the database) rolls everything back, so the call may be
// repeated; a database conflict (deadlock, busy) is such an error. When ctx ends, the
// local transaction rolls back unless it had already committed: the outcome is then
// unknown to the caller, and a repeated call tells.
func (b *Barrier) Run(ctx context.Context, br Branch, fn BusinessFunc) (Outcome, error) {
	if err := br.Validate(); err != nil {
		return "", err
	}
	if br.Phase == PhaseTry {
		if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
			return "", ErrExpired
		}
	}
	var outcome Outcome
	err := b.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		outcome, err = runPhase(tx, br, fn)
		return err
	})
	if err != nil {
		return "", err
	}
	return outcome, nil
}

func runPhase(tx *gorm.DB, br Branch, fn BusinessFunc) (Outcome, error) {
	switch br.Phase {
	case PhaseTry:
		inserted, err := insertIgnore(tx, br, PhaseTry, PhaseTry)
		if err != nil {
			return "", err
		}
		if !inserted {
			origin, err := tryOrigin(tx, br)
			if err != nil {
				return "", err
			}
			if origin == PhaseCancel {
				return "", ErrSuspended
			}
			return OutcomeDuplicate, nil
		}
		if err := fn(tx); err != nil {
			return "", err
		}
		return OutcomeApplied, nil

	case PhaseConfirm:
		// Lock the branch (its 'try' row) before anything else: a concurrent Try, Cancel
		// or Confirm of it waits here until this one commits, or this one waits for them.
		origin, found, err := lockTry(tx, br)
		if err != nil {
			return "", err
		}
		if !found {
			return "", ErrNotTried
		}
		if origin == PhaseCancel {
			return "", ErrPhaseConflict // a Cancel came first: the Try was blocked
		}
		cancelled, err := rowExists(tx, br, PhaseCancel)
		if err != nil {
			return "", err
		}
		if cancelled {
			return "", ErrPhaseConflict
		}
		inserted, err := insertIgnore(tx, br, PhaseConfirm, PhaseConfirm)
		if err != nil {
			return "", err
		}
		if !inserted {
			return OutcomeDuplicate, nil
		}
		if err := fn(tx); err != nil {
			return "", err
		}
		return OutcomeApplied, nil

	default: // PhaseCancel (Validate has run)
		// The 'try' row, written with origin 'cancel', proves the Try never committed
		// and stops it from ever doing so (anti-suspension). When it exists already, the
		// write locks it: the branch's other phases wait for this one.
		tryMissing, err := insertIgnore(tx, br, PhaseTry, PhaseCancel)
		if err != nil {
			return "", err
		}
		inserted, err := insertIgnore(tx, br, PhaseCancel, PhaseCancel)
		if err != nil {
			return "", err
		}
		if !inserted {
			return OutcomeDuplicate, nil
		}
		if tryMissing {
			return OutcomeEmptyCompensation, nil
		}
		confirmed, err := rowExists(tx, br, PhaseConfirm)
		if err != nil {
			return "", err
		}
		if confirmed {
			return "", ErrPhaseConflict // rolls back the cancel row just written
		}
		if err := fn(tx); err != nil {
			return "", err
		}
		return OutcomeApplied, nil
	}
}

// insertIgnore inserts the barrier row (br.XID, br.BranchID, phase) unless it exists,
// and reports whether it did. It uses gorm's portable conflict clause (ON DUPLICATE KEY
// UPDATE on MySQL, ON CONFLICT DO NOTHING on SQLite), whose affected-row count is 0 for
// an existing row: no driver error text is inspected.
func insertIgnore(tx *gorm.DB, br Branch, phase, origin Phase) (bool, error) {
	row := barrierRow{
		XID:         br.XID,
		BranchID:    br.BranchID,
		Phase:       string(phase),
		OriginPhase: string(origin),
		CreatedAt:   time.Now().UTC(),
	}
	res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
	if res.Error != nil {
		return false, fmt.Errorf("tcc: barrier insert %s: %w", phase, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// tryOrigin reads the origin of the branch's 'try' row with a locking read, so it sees
// the latest committed row whatever the isolation level's snapshot.
func tryOrigin(tx *gorm.DB, br Branch) (Phase, error) {
	var row barrierRow
	err := tx.Clauses(clause.Locking{Strength: "SHARE"}).
		Where("xid = ? AND branch_id = ? AND phase = ?", br.XID, br.BranchID, string(PhaseTry)).
		Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		// The row existed a moment ago in this transaction's view; it can only vanish
		// through a purge, which never touches open branches. Treat as a conflict.
		return "", fmt.Errorf("tcc: barrier row of %s/%s vanished", br.XID, br.BranchID)
	}
	if err != nil {
		return "", fmt.Errorf("tcc: barrier read: %w", err)
	}
	return Phase(row.OriginPhase), nil
}

// lockTry reads the branch's 'try' row with SELECT … FOR UPDATE and returns its origin,
// or found=false when there is none. The read sees the latest committed row whatever
// the isolation level's snapshot, and waits for a transaction that is writing it. On
// MySQL's REPEATABLE READ a missing row is gap-locked until this transaction ends, so a
// Try cannot commit in between.
func lockTry(tx *gorm.DB, br Branch) (origin Phase, found bool, err error) {
	var rows []barrierRow
	err = tx.Clauses(clause.Locking{Strength: "UPDATE"}).
		Where("xid = ? AND branch_id = ? AND phase = ?", br.XID, br.BranchID, string(PhaseTry)).
		Limit(1).Find(&rows).Error
	if err != nil {
		return "", false, fmt.Errorf("tcc: barrier read: %w", err)
	}
	if len(rows) == 0 {
		return "", false, nil
	}
	return Phase(rows[0].OriginPhase), true, nil
}

// rowExists reports, with a locking read (so the latest committed state, not the
// snapshot), whether the branch's row of phase exists.
func rowExists(tx *gorm.DB, br Branch, phase Phase) (bool, error) {
	var rows []barrierRow
	err := tx.Clauses(clause.Locking{Strength: "SHARE"}).
		Where("xid = ? AND branch_id = ? AND phase = ?", br.XID, br.BranchID, string(phase)).
		Limit(1).Find(&rows).Error
	if err != nil {
		return false, fmt.Errorf("tcc: barrier read: %w", err)
	}
	return len(rows) > 0, nil
}
