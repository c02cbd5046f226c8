package tcc_test

// Model-based tests of the barrier (issue 16): random sequences of deliveries to one
// participant, checked after every step against a reference model of its branches and
// of its pooled resource, with pgregory.net/rapid generating and shrinking them.
//
// TestBarrierModel runs the checker on SQLite and TestBarrierModelMySQL on MariaDB, with
// rapid's default 100 sequences each, of 30 actions on average. The longer mode is
// rapid's own flag, given after the package (go test rejects it before):
//
//	go test -count=1 -run 'TestBarrierModel$' ./pkg/tcc/ -rapid.checks=5000
//	go test -count=1 -run 'TestBarrierModelMySQL$' ./pkg/tcc/ -rapid.checks=1000
//
// or the environment variable RAPID_CHECKS=5000 (RAPID_STEPS for the average length,
// RAPID_SEED likewise), which also reaches a `go test ./...` run. 1500 checks take about
// 7 s on SQLite and 45 s on MariaDB. A failure is shrunk to a minimal sequence, printed
// in the notation of parseActions (the "sequence:" line of the failure output), and saved
// under testdata/rapid/<test name>/; the next run replays that file first, and
// -rapid.seed=N (printed with the failure) or -rapid.failfile=PATH replays it on
// purpose. A failure found once is kept for good as a row of
// TestBarrierModelRegressions, pasted in that notation.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
	"pgregory.net/rapid"

	"github.com/tccsuite/tccsuite/pkg/tcc"
	"github.com/tccsuite/tccsuite/pkg/tcc/dberr"
	"github.com/tccsuite/tccsuite/pkg/tcc/internal/testenv"
)

// The model's universe: a few global transactions, each with a couple of branches at
// this participant.
const (
	modelXIDs     = 3
	modelBranches = 2
)

// The pool every branch draws from. Its held column starts with another order's
// reservation, so a Confirm or Cancel that runs without its own Try silently eats it.
const (
	modelAvailable = 1000
	modelOtherHeld = 50
)

// amountOf is what branch (x, b) moves in the pool: distinct per branch, so a step
// applied for the wrong branch shows in the totals too.
func amountOf(x, b int) int64 { return int64(10*(x+1) + b + 1) }

// mode is how the business step of one delivery behaves.
type mode int

const (
	modeOK     mode = iota // the step succeeds
	modeFail               // it fails transiently before any change (an error): rolled back
	modeCrash              // it makes its change in tx, then returns an error: rolled back
	modeReject             // Try only: a business refusal (tcc.Reject) before any change
	modeLate               // Try only: delivered after its deadline
)

var modeNames = map[mode]string{modeFail: "fail", modeCrash: "crash", modeReject: "reject", modeLate: "late"}

// delivery is one call of a phase to branch b of global transaction x.
type delivery struct {
	x, b  int
	phase tcc.Phase
	mode  mode
}

func (c delivery) branch() tcc.Branch {
	return tcc.Branch{XID: fmt.Sprintf("x%d", c.x+1), BranchID: fmt.Sprintf("b%d", c.b+1), Phase: c.phase}
}

var phaseLetter = map[tcc.Phase]string{tcc.PhaseTry: "T", tcc.PhaseConfirm: "C", tcc.PhaseCancel: "X"}

func (c delivery) String() string {
	s := fmt.Sprintf("%s x%d/b%d", phaseLetter[c.phase], c.x+1, c.b+1)
	if m, ok := modeNames[c.mode]; ok {
		s += " " + m
	}
	return s
}

// op is the kind of one action of a sequence.
type op int

const (
	opCall  op = iota // deliver a
	opDup             // deliver a twice in a row: a duplicate
	opPair            // deliver a and b at once, from two goroutines
	opPurge           // the clock moves past the retention for XID purge (or all): age its rows, then Purge
)

// purgeAll as action.purge ages every XID's rows.
const purgeAll = -1

// action is one step of a generated sequence.
type action struct {
	op    op
	a, b  delivery
	purge int // opPurge: the XID index whose rows age, or purgeAll
}

func (a action) String() string {
	switch a.op {
	case opDup:
		return "dup " + a.a.String()
	case opPair:
		return a.a.String() + " || " + a.b.String()
	case opPurge:
		if a.purge == purgeAll {
			return "purge all"
		}
		return fmt.Sprintf("purge x%d", a.purge+1)
	default:
		return a.a.String()
	}
}

// GoString makes rapid's "draw actions:" log line print each action in the notation of
// parseActions.
func (a action) GoString() string { return a.String() }

// formatActions renders a sequence in the notation parseActions reads.
func formatActions(acts []action) string {
	s := make([]string, len(acts))
	for i, a := range acts {
		s[i] = a.String()
	}
	return strings.Join(s, "; ")
}

// parseActions reads a sequence written as formatActions writes it: actions separated by
// ";", each "T x1/b2" (T Try, C Confirm, X Cancel) optionally followed by a mode (fail,
// crash; for a Try also reject, late), "dup <call>", "<call> || <call>", "purge x1" or
// "purge all".
func parseActions(s string) ([]action, error) {
	var acts []action
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		var a action
		var err error
		switch {
		case part == "purge all":
			a = action{op: opPurge, purge: purgeAll}
		case strings.HasPrefix(part, "purge x"):
			var n int
			n, err = strconv.Atoi(strings.TrimPrefix(part, "purge x"))
			if err == nil && (n < 1 || n > modelXIDs) {
				err = fmt.Errorf("no XID x%d", n)
			}
			a = action{op: opPurge, purge: n - 1}
		case strings.HasPrefix(part, "dup "):
			a.op = opDup
			a.a, err = parseCall(strings.TrimPrefix(part, "dup "))
		case strings.Contains(part, "||"):
			l, r, _ := strings.Cut(part, "||")
			a.op = opPair
			if a.a, err = parseCall(l); err == nil {
				a.b, err = parseCall(r)
			}
		default:
			a.a, err = parseCall(part)
		}
		if err != nil {
			return nil, fmt.Errorf("%q: %w", part, err)
		}
		acts = append(acts, a)
	}
	return acts, nil
}

func parseCall(s string) (delivery, error) {
	f := strings.Fields(s)
	if len(f) < 2 || len(f) > 3 {
		return delivery{}, errors.New("want <T|C|X> x<N>/b<M> [mode]")
	}
	var c delivery
	for ph, l := range phaseLetter {
		if l == f[0] {
			c.phase = ph
		}
	}
	if c.phase == "" {
		return delivery{}, fmt.Errorf("bad phase %q", f[0])
	}
	if _, err := fmt.Sscanf(f[1], "x%d/b%d", &c.x, &c.b); err != nil {
		return delivery{}, fmt.Errorf("bad branch %q: %w", f[1], err)
	}
	c.x, c.b = c.x-1, c.b-1
	if c.x < 0 || c.x >= modelXIDs || c.b < 0 || c.b >= modelBranches {
		return delivery{}, fmt.Errorf("no branch %q", f[1])
	}
	if len(f) == 3 {
		found := false
		for m, name := range modeNames {
			if name == f[2] {
				c.mode, found = m, true
			}
		}
		if !found || (c.phase != tcc.PhaseTry && (c.mode == modeReject || c.mode == modeLate)) {
			return delivery{}, fmt.Errorf("bad mode %q for %s", f[2], f[0])
		}
	}
	return c, nil
}

// genCall draws one delivery to one of the first nx XIDs' first nb branches. Every draw
// shrinks towards "T x1/b1" that succeeds.
func genCall(t *rapid.T, nx, nb int) delivery {
	c := delivery{
		x:     rapid.IntRange(0, nx-1).Draw(t, "x"),
		b:     rapid.IntRange(0, nb-1).Draw(t, "b"),
		phase: rapid.SampledFrom([]tcc.Phase{tcc.PhaseTry, tcc.PhaseConfirm, tcc.PhaseCancel}).Draw(t, "phase"),
	}
	switch m := rapid.IntRange(0, 9).Draw(t, "mode"); {
	case m == 6:
		c.mode = modeFail
	case m == 7:
		c.mode = modeCrash
	case m == 8 && c.phase == tcc.PhaseTry:
		c.mode = modeReject
	case m == 9 && c.phase == tcc.PhaseTry:
		c.mode = modeLate
	}
	return c
}

// genActionIn draws one action over the first nx XIDs and nb branches: mostly single
// deliveries, and now and then a duplicate, two at once, or a purge.
func genActionIn(nx, nb int) *rapid.Generator[action] {
	return rapid.Custom(func(t *rapid.T) action {
		switch rapid.IntRange(0, 9).Draw(t, "op") {
		case 7:
			return action{op: opDup, a: genCall(t, nx, nb)}
		case 8:
			a := genCall(t, nx, nb)
			b := genCall(t, nx, nb)
			if rapid.IntRange(0, 3).Draw(t, "other branch") < 3 { // mostly a race on one branch
				b.x, b.b = a.x, a.b
			}
			return action{op: opPair, a: a, b: b}
		case 9:
			p := rapid.IntRange(0, nx).Draw(t, "purge")
			if p == nx {
				p = purgeAll
			}
			return action{op: opPurge, purge: p}
		default:
			return action{op: opCall, a: genCall(t, nx, nb)}
		}
	})
}

// genAction draws actions over the whole universe.
var genAction = genActionIn(modelXIDs, modelBranches)

// ---- the reference model ----

// rowState is one barrier row as the model sees it.
type rowState struct {
	Present bool
	Old     bool // aged past the retention
}

// branchView is what the checker compares of one branch: its barrier rows and the
// effects its business steps committed (indexed by phaseIndex).
type branchView struct {
	Try, Confirm, Cancel rowState
	TryOrigin            tcc.Phase // origin of the try row when present
	Effects              [3]int
}

// view is the whole comparable state: every branch, the pool (available, held, spent).
type view struct {
	Branches [modelXIDs][modelBranches]branchView
	Pool     [3]int64
}

func phaseIndex(p tcc.Phase) int {
	switch p {
	case tcc.PhaseTry:
		return 0
	case tcc.PhaseConfirm:
		return 1
	default:
		return 2
	}
}

// model is the reference: what the barrier of docs/design.md §3 does, written as plainly
// as possible over the view, plus which XIDs the clock has moved past.
type model struct {
	v    view
	aged [modelXIDs]bool // the retention has passed: every Try of it arrives after its deadline
}

func newModel() model {
	return model{v: view{Pool: [3]int64{modelAvailable, modelOtherHeld, 0}}}
}

// Results of a delivery, as the checker names them.
const (
	resApplied   = string(tcc.OutcomeApplied)
	resDuplicate = string(tcc.OutcomeDuplicate)
	resEmpty     = string(tcc.OutcomeEmptyCompensation)
	resSuspended = "ERR_SUSPENDED"
	resExpired   = "ERR_EXPIRED"
	resNotTried  = "ERR_NOT_TRIED"
	resConflict  = "ERR_PHASE_CONFLICT"
	resRejected  = "ERR_REJECTED"
	resFailed    = "ERR_FAILED"
	resCrashed   = "ERR_CRASHED"
	resRetryable = "ERR_RETRYABLE" // a database conflict (deadlock): rolled back, may be repeated
)

// late reports whether c arrives after its deadline: asked so, or its XID is past the
// retention (the retention outlasts every deadline).
func (m model) late(c delivery) bool {
	return c.phase == tcc.PhaseTry && (c.mode == modeLate || m.aged[c.x])
}

// deliver returns the result of c and the state after it.
func (m model) deliver(c delivery) (string, model) {
	before := m
	s := &m.v.Branches[c.x][c.b]
	amt := amountOf(c.x, c.b)
	// business runs the step: on a refusal or an error everything rolls back.
	business := func(from, to int) (string, model) {
		switch c.mode {
		case modeReject:
			return resRejected, before
		case modeFail:
			return resFailed, before
		case modeCrash:
			return resCrashed, before
		}
		s.Effects[phaseIndex(c.phase)]++
		m.v.Pool[from] -= amt
		m.v.Pool[to] += amt
		return resApplied, m
	}
	const available, held, spent = 0, 1, 2
	switch c.phase {
	case tcc.PhaseTry:
		if m.late(c) {
			return resExpired, before
		}
		if s.Try.Present {
			if s.TryOrigin == tcc.PhaseCancel {
				return resSuspended, before
			}
			return resDuplicate, before
		}
		s.Try, s.TryOrigin = rowState{Present: true}, tcc.PhaseTry
		return business(available, held)
	case tcc.PhaseConfirm:
		switch {
		case !s.Try.Present:
			return resNotTried, before
		case s.TryOrigin == tcc.PhaseCancel || s.Cancel.Present:
			return resConflict, before
		case s.Confirm.Present:
			return resDuplicate, before
		}
		s.Confirm = rowState{Present: true}
		return business(held, spent)
	default:
		tryMissing := !s.Try.Present
		if tryMissing { // the anti-suspension marker
			s.Try, s.TryOrigin = rowState{Present: true}, tcc.PhaseCancel
		}
		if s.Cancel.Present {
			return resDuplicate, m
		}
		s.Cancel = rowState{Present: true}
		if tryMissing {
			return resEmpty, m
		}
		if s.Confirm.Present {
			return resConflict, before
		}
		return business(held, available)
	}
}

// purge moves the clock past the retention for XID p (or all) and purges: every
// finished branch (a Confirm or Cancel row) whose second-phase row is now old loses its
// rows; open and young branches keep theirs. It returns the number of rows removed.
func (m model) purge(p int) (int64, model) {
	for x := range modelXIDs {
		if p != purgeAll && p != x {
			continue
		}
		m.aged[x] = true
		for b := range modelBranches {
			s := &m.v.Branches[x][b]
			for _, r := range []*rowState{&s.Try, &s.Confirm, &s.Cancel} {
				r.Old = r.Present
			}
		}
	}
	var n int64
	for x := range modelXIDs {
		for b := range modelBranches {
			s := &m.v.Branches[x][b]
			if (s.Confirm.Present && s.Confirm.Old) || (s.Cancel.Present && s.Cancel.Old) {
				for _, r := range []rowState{s.Try, s.Confirm, s.Cancel} {
					if r.Present {
						n++
					}
				}
				s.Try, s.Confirm, s.Cancel, s.TryOrigin = rowState{}, rowState{}, rowState{}, ""
			}
		}
	}
	return n, m
}

// ---- the system under test ----

// subject is the barrier the checker drives: the real one, or a broken variant built by
// model_broken_test.go.
type subject struct {
	name  string
	run   func(ctx context.Context, db *gorm.DB, br tcc.Branch, fn tcc.BusinessFunc) (tcc.Outcome, error)
	purge func(ctx context.Context, db *gorm.DB, cfg tcc.PurgeConfig) (int64, error)
}

var realBarrier = subject{
	name: "real",
	run: func(ctx context.Context, db *gorm.DB, br tcc.Branch, fn tcc.BusinessFunc) (tcc.Outcome, error) {
		return tcc.NewBarrier(db).Run(ctx, br, fn)
	},
	purge: tcc.Purge,
}

// modelEffect is the checker's business table: one row per business step committed.
type modelEffect struct {
	ID       uint   `gorm:"primaryKey"`
	XID      string `gorm:"column:xid"`
	BranchID string `gorm:"column:branch_id"`
	Phase    string `gorm:"column:phase"`
}

func (modelEffect) TableName() string { return "model_effects" }

// modelPool is the participant's pooled resource (one row).
type modelPool struct {
	ID        int `gorm:"primaryKey;autoIncrement:false"`
	Available int64
	Held      int64
	Spent     int64
}

func (modelPool) TableName() string { return "model_pools" }

// modelRow reads tcc_barrier.
type modelRow struct {
	XID         string    `gorm:"column:xid"`
	BranchID    string    `gorm:"column:branch_id"`
	Phase       string    `gorm:"column:phase"`
	OriginPhase string    `gorm:"column:origin_phase"`
	CreatedAt   time.Time `gorm:"column:created_at"`
}

func (modelRow) TableName() string { return tcc.BarrierTable }

// Purge settings of the checker: rows are aged by twice the retention.
const (
	modelRetention = 24 * time.Hour
	modelAge       = 48 * time.Hour
	modelBatch     = 2 // small, so that a purge of several branches takes several batches
)

var (
	errStepFailed  = errors.New("business step failed")
	errStepCrashed = errors.New("business step crashed after its change")
)

// checkTB is what the checker needs of a test: *rapid.T and *testing.T both are.
type checkTB interface {
	Helper()
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
}

// checker runs action sequences against a subject on one database.
type checker struct {
	db   *gorm.DB
	subj subject
	// serialPairs delivers the two calls of a pair one after the other, a first: every
	// run of a sequence then goes the same way, which the broken variants' test needs to
	// shrink reproducibly (their bugs need no race). The checks still accept either order.
	serialPairs bool

	// How the races went, for the log: pairs whose two serial orders differ, and which
	// order the real run matched; calls that lost a database conflict.
	mu                                           sync.Mutex
	pairs, races, firstWon, secondWon, retryable int
}

// raceStats summarises how the pairs went.
func (c *checker) raceStats() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("%d races with two distinct serial outcomes: the first-drawn call won %d, the second %d; calls rolled back by a database conflict: %d",
		c.races, c.firstWon, c.secondWon, c.retryable)
}

func newChecker(t testing.TB, db *gorm.DB, subj subject) *checker {
	t.Helper()
	if err := tcc.Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	if err := db.AutoMigrate(&modelEffect{}, &modelPool{}); err != nil {
		t.Fatal(err)
	}
	return &checker{db: db, subj: subj}
}

// reset empties the barrier and the business tables and refills the pool.
func (c *checker) reset(t checkTB) {
	t.Helper()
	for _, s := range []string{"DELETE FROM " + tcc.BarrierTable, "DELETE FROM model_effects", "DELETE FROM model_pools"} {
		if err := c.db.Exec(s).Error; err != nil {
			t.Fatalf("reset: %v", err)
		}
	}
	if err := c.db.Create(&modelPool{ID: 1, Available: modelAvailable, Held: modelOtherHeld}).Error; err != nil {
		t.Fatalf("reset: %v", err)
	}
}

// business is c's business step: it moves the branch's amount between two columns of
// the pool with a conditional UPDATE and records its effect, behaving as c.mode says.
func business(cl delivery) tcc.BusinessFunc {
	cols := map[tcc.Phase][2]string{
		tcc.PhaseTry:     {"available", "held"},
		tcc.PhaseConfirm: {"held", "spent"},
		tcc.PhaseCancel:  {"held", "available"},
	}[cl.phase]
	from, to := cols[0], cols[1]
	amt := amountOf(cl.x, cl.b)
	br := cl.branch()
	return func(tx *gorm.DB) error {
		switch cl.mode {
		case modeReject:
			return tcc.Reject("OUT_OF_STOCK", "refused by the test")
		case modeFail:
			return errStepFailed
		}
		res := tx.Model(&modelPool{}).Where("id = 1 AND "+from+" >= ?", amt).
			Updates(map[string]any{from: gorm.Expr(from+" - ?", amt), to: gorm.Expr(to+" + ?", amt)})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return fmt.Errorf("pool: %s short of %d", from, amt)
		}
		if err := tx.Create(&modelEffect{XID: br.XID, BranchID: br.BranchID, Phase: string(br.Phase)}).Error; err != nil {
			return err
		}
		if cl.mode == modeCrash {
			return errStepCrashed
		}
		return nil
	}
}

// deliver runs one call against the subject and names its result.
func (c *checker) deliver(cl delivery, late bool) string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	if late {
		cancel()
		ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	}
	defer cancel()
	out, err := c.subj.run(ctx, c.db, cl.branch(), business(cl))
	switch {
	case err == nil:
		return string(out)
	case errors.Is(err, tcc.ErrSuspended):
		return resSuspended
	case errors.Is(err, tcc.ErrExpired):
		return resExpired
	case errors.Is(err, tcc.ErrNotTried):
		return resNotTried
	case errors.Is(err, tcc.ErrPhaseConflict):
		return resConflict
	case errors.Is(err, tcc.ErrRejected):
		return resRejected
	case errors.Is(err, errStepFailed):
		return resFailed
	case errors.Is(err, errStepCrashed):
		return resCrashed
	case dberr.IsRetryable(err):
		return resRetryable
	default:
		return "ERROR: " + err.Error()
	}
}

// purge ages the rows of XID p (or all) past the retention, as days passing would, and
// purges.
func (c *checker) purge(t checkTB, p int) int64 {
	t.Helper()
	q := c.db.Model(&modelRow{}).Where("1 = 1")
	if p != purgeAll {
		q = c.db.Model(&modelRow{}).Where("xid = ?", fmt.Sprintf("x%d", p+1))
	}
	if err := q.Update("created_at", time.Now().UTC().Add(-modelAge)).Error; err != nil {
		t.Fatalf("age rows: %v", err)
	}
	n, err := c.subj.purge(context.Background(), c.db, tcc.PurgeConfig{Retention: modelRetention, BatchSize: modelBatch})
	if err != nil {
		t.Fatalf("purge: %v", err)
	}
	return n
}

// query runs q and calls scan for each row; any error fails t.
func query(t checkTB, db *sql.DB, q string, args []any, scan func(*sql.Rows) error) {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		if err := scan(rows); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// observed is the real state: its view, and the order in which effects committed.
type observed struct {
	v view
	// firstEffect[x][b][phase] is the ID of the branch's first effect of that phase (0:
	// none); IDs grow with commit order.
	firstEffect [modelXIDs][modelBranches][3]uint
}

func (c *checker) observe(t checkTB) observed {
	t.Helper()
	// Plain database/sql: this runs after every step, and shrinking replays many steps.
	sqlDB, err := c.db.DB()
	if err != nil {
		t.Fatalf("pool: %v", err)
	}
	ctx := context.Background()
	var o observed
	index := func(xid, branch string) (int, int) {
		t.Helper()
		if len(xid) != 2 || len(branch) != 2 || xid[1] < '1' || xid[1] >= '1'+modelXIDs || branch[1] < '1' || branch[1] >= '1'+modelBranches {
			t.Fatalf("foreign row of %s/%s", xid, branch)
		}
		return int(xid[1] - '1'), int(branch[1] - '1')
	}
	cutoff := time.Now().UTC().Add(-modelRetention)
	query(t, sqlDB, "SELECT xid, branch_id, phase, origin_phase, CASE WHEN created_at < ? THEN 1 ELSE 0 END FROM tcc_barrier",
		[]any{cutoff}, func(rows *sql.Rows) error {
			var xid, branch, phase, origin string
			var old int
			if err := rows.Scan(&xid, &branch, &phase, &origin, &old); err != nil {
				return err
			}
			x, b := index(xid, branch)
			s := &o.v.Branches[x][b]
			rs := rowState{Present: true, Old: old == 1}
			switch tcc.Phase(phase) {
			case tcc.PhaseTry:
				s.Try, s.TryOrigin = rs, tcc.Phase(origin)
			case tcc.PhaseConfirm:
				s.Confirm = rs
			case tcc.PhaseCancel:
				s.Cancel = rs
			}
			return nil
		})
	query(t, sqlDB, "SELECT id, xid, branch_id, phase FROM model_effects ORDER BY id", nil, func(rows *sql.Rows) error {
		var id uint
		var xid, branch, phase string
		if err := rows.Scan(&id, &xid, &branch, &phase); err != nil {
			return err
		}
		x, b := index(xid, branch)
		i := phaseIndex(tcc.Phase(phase))
		o.v.Branches[x][b].Effects[i]++
		if o.firstEffect[x][b][i] == 0 {
			o.firstEffect[x][b][i] = id
		}
		return nil
	})
	if err := sqlDB.QueryRowContext(ctx, "SELECT available, held, spent FROM model_pools WHERE id = 1").
		Scan(&o.v.Pool[0], &o.v.Pool[1], &o.v.Pool[2]); err != nil {
		t.Fatalf("read pool: %v", err)
	}
	return o
}

// invariants checks the real state against the barrier's guarantees, independently of
// the model: each phase's effect at most once; Confirm's and Cancel's only after the
// Try's, and never both; the pool holds exactly what the effects moved, and nothing was
// created or lost. (That no Try applies after its Cancel was answered is checked on the
// answers, in run.)
func invariants(o observed) []string {
	var bad []string
	var avail, held, spent int64 = modelAvailable, modelOtherHeld, 0
	for x := range modelXIDs {
		for b := range modelBranches {
			e := o.v.Branches[x][b].Effects
			id := o.firstEffect[x][b]
			name := fmt.Sprintf("x%d/b%d", x+1, b+1)
			for i, n := range e {
				if n > 1 {
					bad = append(bad, fmt.Sprintf("%s: %d effects of phase %d", name, n, i))
				}
			}
			if e[1] > 0 && (e[0] == 0 || id[1] < id[0]) {
				bad = append(bad, name+": a Confirm effect without an earlier Try effect")
			}
			if e[2] > 0 && (e[0] == 0 || id[2] < id[0]) {
				bad = append(bad, name+": a Cancel effect without an earlier Try effect")
			}
			if e[1] > 0 && e[2] > 0 {
				bad = append(bad, name+": both a Confirm and a Cancel effect")
			}
			amt := amountOf(x, b)
			avail -= amt * int64(e[0]-e[2])
			held += amt * int64(e[0]-e[1]-e[2])
			spent += amt * int64(e[1])
		}
	}
	if o.v.Pool != [3]int64{avail, held, spent} {
		bad = append(bad, fmt.Sprintf("pool %v, but the effects moved it to %v", o.v.Pool, [3]int64{avail, held, spent}))
	}
	if sum := o.v.Pool[0] + o.v.Pool[1] + o.v.Pool[2]; sum != modelAvailable+modelOtherHeld {
		bad = append(bad, fmt.Sprintf("pool not conserved: %d units, want %d", sum, modelAvailable+modelOtherHeld))
	}
	return bad
}

// diff lists where two views differ.
func diff(got, want view) []string {
	var d []string
	for x := range modelXIDs {
		for b := range modelBranches {
			if g, w := got.Branches[x][b], want.Branches[x][b]; g != w {
				d = append(d, fmt.Sprintf("x%d/b%d: real %+v, model %+v", x+1, b+1, g, w))
			}
		}
	}
	if got.Pool != want.Pool {
		d = append(d, fmt.Sprintf("pool (available, held, spent): real %v, model %v", got.Pool, want.Pool))
	}
	return d
}

// session is one sequence being played: the model beside the real database.
type session struct {
	c         *checker
	m         model
	cancelled [modelXIDs][modelBranches]bool // a Cancel of the branch was answered 2xx
	acts      []action                       // played so far, the current one last
}

// newSession resets the database and starts a sequence.
func (c *checker) newSession(t checkTB) *session {
	t.Helper()
	c.reset(t)
	return &session{c: c, m: newModel()}
}

// run plays acts from a fresh state (a table test's sequence).
func (c *checker) run(t checkTB, acts []action) {
	t.Helper()
	s := c.newSession(t)
	for _, a := range acts {
		s.acts = append(s.acts, a)
		s.step(t)
	}
}

// fail stops the sequence at its current action. The message rapid compares when it
// shrinks (kind) is the same for the same failure; the details, which a race may vary,
// go to the log, shown for the shrunk counterexample.
func (s *session) fail(t checkTB, kind, format string, args ...any) {
	t.Helper()
	i := len(s.acts)
	t.Logf("sequence: %s", formatActions(s.acts))
	t.Logf("step %d (%s): %s: %s", i, s.acts[i-1], kind, fmt.Sprintf(format, args...))
	t.Fatalf("step %d (%s): %s", i, s.acts[i-1], kind)
}

// markCancel records a Cancel answered 2xx: no Try of its branch may apply from now on.
func (s *session) markCancel(cl delivery, res string) {
	if cl.phase == tcc.PhaseCancel && (res == resApplied || res == resDuplicate || res == resEmpty) {
		s.cancelled[cl.x][cl.b] = true
	}
}

// step plays the last action of s.acts against the subject and the model, then compares
// the states and checks the invariants.
func (s *session) step(t checkTB) {
	t.Helper()
	a := s.acts[len(s.acts)-1]
	c := s.c
	switch a.op {
	case opCall, opDup:
		n := 1
		if a.op == opDup {
			n = 2
		}
		for k := range n {
			var want string
			late := s.m.late(a.a)
			tryAfterCancel := a.a.phase == tcc.PhaseTry && s.cancelled[a.a.x][a.a.b]
			want, s.m = s.m.deliver(a.a)
			got := c.deliver(a.a, late)
			if got != want {
				s.fail(t, "answer differs from the model", "delivery %d answered %s, the model says %s", k+1, got, want)
			}
			if tryAfterCancel && got == resApplied {
				s.fail(t, "a Try applied after its Cancel", "")
			}
			s.markCancel(a.a, got)
		}
	case opPair:
		ra, rb := c.pair(s.m, a.a, a.b)
		o := c.observe(t)
		type cand struct {
			ra, rb string
			m      model
		}
		// Either serial order, and each call may lose a database conflict (rolled back,
		// nothing done).
		m := s.m
		ab1, mA := m.deliver(a.a)
		ab2, mAB := mA.deliver(a.b)
		ba1, mB := m.deliver(a.b)
		ba2, mBA := mB.deliver(a.a)
		cands := []cand{
			{ab1, ab2, mAB}, {ba2, ba1, mBA},
			{ab1, resRetryable, mA}, {resRetryable, ba1, mB},
			{resRetryable, resRetryable, m},
		}
		found := -1
		for i, cd := range cands {
			if cd.ra == ra && cd.rb == rb && cd.m.v == o.v {
				s.m, found = cd.m, i
				break
			}
		}
		c.mu.Lock()
		if ab1 != ba2 || ab2 != ba1 || mAB != mBA {
			c.races++
			switch found {
			case 0:
				c.firstWon++
			case 1:
				c.secondWon++
			}
		}
		for _, r := range []string{ra, rb} {
			if r == resRetryable {
				c.retryable++
			}
		}
		c.mu.Unlock()
		if found < 0 {
			s.fail(t, "no serial order explains the race",
				"answered (%s, %s); %s then %s: (%s, %s) and %s; %s then %s: (%s, %s) and %s",
				ra, rb, a.a, a.b, ab1, ab2, diffOrSame(o.v, mAB.v), a.b, a.a, ba2, ba1, diffOrSame(o.v, mBA.v))
		}
		for _, p := range []struct {
			cl  delivery
			res string
		}{{a.a, ra}, {a.b, rb}} {
			if p.cl.phase == tcc.PhaseTry && p.res == resApplied && s.cancelled[p.cl.x][p.cl.b] {
				s.fail(t, "a Try applied after its Cancel", "")
			}
		}
		s.markCancel(a.a, ra)
		s.markCancel(a.b, rb)
	case opPurge:
		var want int64
		want, s.m = s.m.purge(a.purge)
		if got := c.purge(t, a.purge); got != want {
			s.fail(t, "purge count differs from the model", "purge deleted %d rows, the model says %d", got, want)
		}
	}
	o := c.observe(t)
	if d := diff(o.v, s.m.v); len(d) > 0 {
		s.fail(t, "state differs from the model", "%s", strings.Join(d, "; "))
	}
	if bad := invariants(o); len(bad) > 0 {
		s.fail(t, "invariant broken", "%s", strings.Join(bad, "; "))
	}
}

func diffOrSame(got, want view) string {
	if d := diff(got, want); len(d) > 0 {
		return "state differs: " + strings.Join(d, "; ")
	}
	return "the same state"
}

// pair delivers a and b at once, from two goroutines, and returns their results.
func (c *checker) pair(m model, a, b delivery) (ra, rb string) {
	lateA, lateB := m.late(a), m.late(b)
	if c.serialPairs {
		return c.deliver(a, lateA), c.deliver(b, lateB)
	}
	c.mu.Lock()
	c.pairs++
	flip := c.pairs%2 == 0
	c.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	goA := func() { defer wg.Done(); ra = c.deliver(a, lateA) }
	goB := func() { defer wg.Done(); rb = c.deliver(b, lateB) }
	// Alternate which goroutine starts first, so that both orders really happen (the
	// scheduler tends to run the last started first); the checks accept either.
	if flip {
		goA, goB = goB, goA
	}
	go goA()
	go goB()
	wg.Wait()
	return ra, rb
}

// property returns rapid's state machine over c: each check plays, from a fresh state, a
// sequence of actions drawn one by one (-rapid.steps of them on average, default 30),
// comparing with the model after each. last, when not nil, receives the sequence played
// so far; once rapid.Check has failed, it holds the shrunk counterexample.
func (c *checker) property(last *[]action) func(*rapid.T) {
	return func(t *rapid.T) {
		s := c.newSession(t)
		t.Repeat(map[string]func(*rapid.T){
			"step": func(t *rapid.T) {
				s.acts = append(s.acts, genAction.Draw(t, "action"))
				if last != nil {
					*last = s.acts
				}
				s.step(t)
			},
		})
	}
}

// shortProperty is property over short sequences in a narrow universe: a slice of
// 1..maxLen actions (about 6 on average) drawn at once, all to branch x1/b1.
// The checks are the same; a bug that shows in a few steps of one branch is found and
// shrunk quickly.
func (c *checker) shortProperty(maxLen int, last *[]action) func(*rapid.T) {
	gen := genActionIn(1, 1)
	return func(t *rapid.T) {
		acts := rapid.SliceOfN(gen, 1, maxLen).Draw(t, "actions")
		s := c.newSession(t)
		for _, a := range acts {
			s.acts = append(s.acts, a)
			if last != nil {
				*last = s.acts
			}
			s.step(t)
		}
	}
}

// TestBarrierModel checks the barrier against the model on SQLite: rapid's -rapid.checks
// sequences (default 100) of -rapid.steps actions on average (default 30). About 1 s,
// 7 s under -race. See the file comment for the longer mode and for replaying a failure.
func TestBarrierModel(t *testing.T) {
	c := newChecker(t, sqliteDB(t), realBarrier)
	rapid.Check(t, c.property(nil))
	t.Log(c.raceStats())
}

// TestBarrierModelMySQL is TestBarrierModel on MariaDB (TCC_TEST_MYSQL_DSN), where two
// deliveries at once really run side by side under InnoDB's locks. About 4 s with the
// default 100 checks, with or without -race.
func TestBarrierModelMySQL(t *testing.T) {
	c := newChecker(t, testenv.MySQL(t, 8), realBarrier)
	rapid.Check(t, c.property(nil))
	t.Log(c.raceStats())
}

// TestBarrierModelRegressions replays, through the same checker, sequences kept for
// good: every counterexample the checker has found (the broken variants' shrunk ones
// below, printed by TestBarrierModelCatchesBrokenVariants), and a few hand-written races.
// A new failure of TestBarrierModel goes here, pasted from its "sequence:" line.
func TestBarrierModelRegressions(t *testing.T) {
	cases := []string{
		// Shrunk counterexamples of the broken variants (model_broken_test.go).
		"C x1/b1",                   // confirm-without-try-check
		"T x1/b1; purge x1",         // purge-open-branches
		"T x1/b1; C x1/b1; X x1/b1", // cancel-after-confirm
		"T x1/b1 || C x1/b1; X x1/b1",
		"X x1/b1", // cancel-without-marker
		"X x1/b1 || T x1/b1",
		"X x1/b1; T x1/b1",
		"T x1/b1; purge all; C x1/b1", // a late Confirm still finds its aged open Try
		// Races on one branch, and the purge around them.
		"T x1/b1 || X x1/b1; C x1/b1; X x1/b1",
		"T x1/b1; C x1/b1 || X x1/b1; C x1/b1; X x1/b1",
		"T x1/b1 || T x1/b1; dup C x1/b1 crash; C x1/b1 || C x1/b1",
		"X x1/b1 || X x1/b1; T x1/b1; purge x1; X x1/b1; T x1/b1",
		"T x1/b1 reject; T x1/b1 fail; T x1/b1 crash; T x1/b1 late; C x1/b1; T x1/b1; C x1/b1",
		"T x2/b2; T x3/b1; C x2/b2; purge all; X x3/b1; purge x3; C x3/b1; T x3/b1",
	}
	for dbName, open := range databases() {
		t.Run(dbName, func(t *testing.T) {
			c := newChecker(t, open(t), realBarrier)
			for _, s := range cases {
				acts, err := parseActions(s)
				if err != nil {
					t.Fatal(err)
				}
				if got := formatActions(acts); got != s {
					t.Fatalf("notation round trip: %q became %q", s, got)
				}
				t.Run(s, func(t *testing.T) { c.run(t, acts) })
			}
		})
	}
}
