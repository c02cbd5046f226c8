package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tccsuite/tccsuite/internal/migrate"
	"github.com/tccsuite/tccsuite/internal/textx"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// Table names (docs/design.md §1).
const (
	GlobalTable = "global_transactions"
	BranchTable = "branch_transactions"
)

// GormStore implements Store on a gorm database: MySQL/MariaDB or SQLite.
type GormStore struct {
	db *gorm.DB
}

var _ Store = (*GormStore)(nil)

// New returns the store on db, a MySQL/MariaDB or SQLite database opened with dbx.Open.
func New(db *gorm.DB) (Store, error) {
	if err := migrate.Supported(db); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return &GormStore{db: db}, nil
}

type globalRow struct {
	XID       string    `gorm:"column:xid;primaryKey"`
	Status    string    `gorm:"column:status"`
	Owner     string    `gorm:"column:owner"`
	Deadline  time.Time `gorm:"column:deadline"`
	TimeoutMS int64     `gorm:"column:timeout_ms"`
	LockKeys  string    `gorm:"column:lock_keys"`
	IdemKey   *string   `gorm:"column:idem_key"`
	IdemHash  string    `gorm:"column:idem_hash"`
	RequestID string    `gorm:"column:request_id"`
	Refusal   string    `gorm:"column:refusal"`
	Attention bool      `gorm:"column:attention"`
	CreatedAt time.Time `gorm:"column:created_at"`
	UpdatedAt time.Time `gorm:"column:updated_at"`
}

func (globalRow) TableName() string { return GlobalTable }

type branchRow struct {
	XID         string    `gorm:"column:xid;primaryKey"`
	BranchID    string    `gorm:"column:branch_id;primaryKey"`
	Seq         int       `gorm:"column:seq"`
	Participant string    `gorm:"column:participant"`
	Action      string    `gorm:"column:action"`
	Payload     []byte    `gorm:"column:payload"`
	Status      string    `gorm:"column:status"`
	Attempts    int       `gorm:"column:attempts"`
	LastError   string    `gorm:"column:last_error"`
	UpdatedAt   time.Time `gorm:"column:updated_at"`
}

func (branchRow) TableName() string { return BranchTable }

var unfinished = []string{string(tcc.TxTrying), string(tcc.TxConfirming), string(tcc.TxCancelling)}

// Migrate brings the schema to its newest version (Schema; see migrate.Up): idempotent,
// and safe while other coordinators start on the same database.
func (s *GormStore) Migrate(ctx context.Context) error {
	_, err := migrate.Up(ctx, s.db, Schema, slog.Default())
	return err
}

// Ping checks the database.
func (s *GormStore) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

func toRows(t *Transaction) (globalRow, []branchRow, error) {
	now := time.Now().UTC()
	g := globalRow{
		XID: t.XID, Status: string(t.Status), Owner: t.Owner, Deadline: t.Deadline.UTC(),
		TimeoutMS: t.TimeoutMS, IdemHash: t.RequestHash, RequestID: t.RequestID,
		Attention: t.Attention, CreatedAt: t.CreatedAt.UTC(), UpdatedAt: now,
	}
	if g.CreatedAt.IsZero() {
		g.CreatedAt = now
	}
	if t.IdempotencyKey != "" {
		k := t.IdempotencyKey
		g.IdemKey = &k
	}
	if len(t.LockKeys) > 0 {
		b, err := json.Marshal(t.LockKeys)
		if err != nil {
			return g, nil, err
		}
		g.LockKeys = string(b)
	}
	if t.Refusal != nil {
		b, err := json.Marshal(t.Refusal)
		if err != nil {
			return g, nil, err
		}
		g.Refusal = string(b)
	}
	bs := make([]branchRow, len(t.Branches))
	for i, b := range t.Branches {
		p := b.Payload
		if p == nil {
			p = []byte{}
		}
		bs[i] = branchRow{
			XID: t.XID, BranchID: b.BranchID, Seq: i, Participant: b.Participant, Action: b.Action,
			Payload: p, Status: string(b.Status), Attempts: b.Attempts, LastError: textx.Truncate(b.LastError, 512),
			UpdatedAt: now,
		}
	}
	return g, bs, nil
}

func fromRows(g globalRow, bs []branchRow) (*Transaction, error) {
	t := &Transaction{
		XID: g.XID, Status: tcc.TxStatus(g.Status), Owner: g.Owner, Deadline: g.Deadline.UTC(),
		TimeoutMS: g.TimeoutMS, RequestHash: g.IdemHash, RequestID: g.RequestID,
		Attention: g.Attention, CreatedAt: g.CreatedAt.UTC(), UpdatedAt: g.UpdatedAt.UTC(),
	}
	if g.IdemKey != nil {
		t.IdempotencyKey = *g.IdemKey
	}
	if g.LockKeys != "" {
		if err := json.Unmarshal([]byte(g.LockKeys), &t.LockKeys); err != nil {
			return nil, fmt.Errorf("store: lock_keys of %s: %w", g.XID, err)
		}
	}
	if g.Refusal != "" {
		t.Refusal = &tcc.Refusal{}
		if err := json.Unmarshal([]byte(g.Refusal), t.Refusal); err != nil {
			return nil, fmt.Errorf("store: refusal of %s: %w", g.XID, err)
		}
	}
	for _, b := range bs {
		t.Branches = append(t.Branches, Branch{
			BranchID: b.BranchID, Participant: b.Participant, Action: b.Action, Payload: b.Payload,
			Status: tcc.BranchStatus(b.Status), Attempts: b.Attempts, LastError: b.LastError,
			UpdatedAt: b.UpdatedAt.UTC(),
		})
	}
	return t, nil
}

// Begin writes the transactions and their branches: the whole batch in one database
// transaction, or one by one when the batch fails.
func (s *GormStore) Begin(ctx context.Context, txs []*Transaction) []error {
	errs := make([]error, len(txs))
	if len(txs) == 0 {
		return errs
	}
	if err := s.beginBatch(ctx, txs); err == nil {
		return errs
	} else if len(txs) == 1 {
		errs[0] = s.classifyBeginErr(ctx, txs[0], err)
		return errs
	}
	for i, t := range txs {
		if err := s.beginBatch(ctx, []*Transaction{t}); err != nil {
			errs[i] = s.classifyBeginErr(ctx, t, err)
		}
	}
	return errs
}

func (s *GormStore) beginBatch(ctx context.Context, txs []*Transaction) error {
	gs := make([]globalRow, 0, len(txs))
	var bs []branchRow
	for _, t := range txs {
		g, b, err := toRows(t)
		if err != nil {
			return err
		}
		gs = append(gs, g)
		bs = append(bs, b...)
	}
	sort.Slice(gs, func(i, j int) bool { return gs[i].XID < gs[j].XID })
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.CreateInBatches(&gs, 500).Error; err != nil {
			return err
		}
		if len(bs) > 0 {
			if err := tx.CreateInBatches(&bs, 500).Error; err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *GormStore) classifyBeginErr(ctx context.Context, t *Transaction, err error) error {
	if !isDuplicate(err) {
		return fmt.Errorf("store: begin %s: %w", t.XID, err)
	}
	if t.IdempotencyKey != "" {
		var n int64
		if qerr := s.db.WithContext(ctx).Model(&globalRow{}).Where("idem_key = ?", t.IdempotencyKey).Count(&n).Error; qerr == nil && n > 0 {
			return ErrDuplicateIdempotencyKey
		}
	}
	return ErrDuplicateXID
}

// isDuplicate reports a unique-key violation, by error number (never by text).
func isDuplicate(err error) bool {
	var me *mysqldrv.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1062
	}
	var coder interface{ Code() int }
	if errors.As(err, &coder) {
		c := coder.Code()
		// SQLITE_CONSTRAINT_UNIQUE (2067), SQLITE_CONSTRAINT_PRIMARYKEY (1555).
		return c == 2067 || c == 1555
	}
	return errors.Is(err, gorm.ErrDuplicatedKey)
}

// Decide applies the compare-and-set decisions in one database transaction; if it
// fails, each is tried alone.
func (s *GormStore) Decide(ctx context.Context, ds []Decision) []DecideResult {
	res := make([]DecideResult, len(ds))
	if len(ds) == 0 {
		return res
	}
	order := make([]int, len(ds))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return ds[order[a]].XID < ds[order[b]].XID })
	won := make([]bool, len(ds))
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for _, i := range order {
			w, err := decideOne(tx, ds[i])
			if err != nil {
				return err
			}
			won[i] = w
		}
		return nil
	})
	if err == nil {
		for i := range res {
			res[i].Won = won[i]
		}
		return res
	}
	if len(ds) == 1 {
		res[0].Err = fmt.Errorf("store: decide %s: %w", ds[0].XID, err)
		return res
	}
	for i, d := range ds {
		var w bool
		err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			var err error
			w, err = decideOne(tx, d)
			return err
		})
		if err != nil {
			res[i].Err = fmt.Errorf("store: decide %s: %w", d.XID, err)
		} else {
			res[i].Won = w
		}
	}
	return res
}

func decideOne(tx *gorm.DB, d Decision) (bool, error) {
	if d.To != tcc.TxConfirming && d.To != tcc.TxCancelling {
		return false, fmt.Errorf("store: bad decision %q", d.To)
	}
	refusal := ""
	if d.Refusal != nil {
		b, err := json.Marshal(d.Refusal)
		if err != nil {
			return false, err
		}
		refusal = string(b)
	}
	r := tx.Model(&globalRow{}).
		Where("xid = ? AND status = ? AND owner = ?", d.XID, string(tcc.TxTrying), d.Owner).
		Updates(map[string]any{"status": string(d.To), "refusal": refusal, "updated_at": time.Now().UTC()})
	if r.Error != nil {
		return false, r.Error
	}
	return r.RowsAffected == 1, nil
}

// Apply writes a batch of results in one database transaction. The global rows of the
// fenced writes are read with a locking read first (FOR UPDATE on MySQL; SQLite has one
// writer), so that no claim can slip in between the owner check and the write.
func (s *GormStore) Apply(ctx context.Context, r Results) ([]string, error) {
	if r.Empty() {
		return nil, nil
	}
	now := time.Now().UTC()
	var fencedXIDs []string
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		want := map[string]map[string]bool{} // xid -> owners the batch expects
		note := func(xid, owner string) {
			if owner == "" {
				return
			}
			if want[xid] == nil {
				want[xid] = map[string]bool{}
			}
			want[xid][owner] = true
		}
		for _, b := range r.Branches {
			note(b.XID, b.Owner)
		}
		for _, f := range r.Finishes {
			note(f.XID, f.Owner)
		}
		owners := map[string]string{}
		if len(want) > 0 {
			xids := make([]string, 0, len(want))
			for x := range want {
				xids = append(xids, x)
			}
			sort.Strings(xids)
			for _, chunk := range chunks(xids, 500) {
				var gs []globalRow
				if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Select("xid", "owner").
					Where("xid IN ?", chunk).Order("xid").Find(&gs).Error; err != nil {
					return err
				}
				for _, g := range gs {
					owners[g.XID] = g.Owner
				}
			}
		}
		fenced := map[string]bool{}
		ok := func(xid, owner string) bool {
			if owner == "" || owners[xid] == owner {
				return true
			}
			fenced[xid] = true
			return false
		}
		rows := make([]branchRow, 0, len(r.Branches))
		for _, b := range r.Branches {
			if !ok(b.XID, b.Owner) {
				continue
			}
			rows = append(rows, branchRow{
				XID: b.XID, BranchID: b.BranchID, Participant: b.Participant, Action: b.Action,
				Payload: []byte{}, Status: string(b.Status), Attempts: b.Attempts,
				LastError: textx.Truncate(b.LastError, 512), UpdatedAt: now,
			})
		}
		sort.Slice(rows, func(i, j int) bool {
			if rows[i].XID != rows[j].XID {
				return rows[i].XID < rows[j].XID
			}
			return rows[i].BranchID < rows[j].BranchID
		})
		type finKey struct {
			from, to  tcc.TxStatus
			attention bool
		}
		fins := map[finKey][]string{}
		for _, f := range r.Finishes {
			if !ok(f.XID, f.Owner) {
				continue
			}
			k := finKey{f.From, f.To, f.Attention}
			fins[k] = append(fins[k], f.XID)
		}
		if len(rows) > 0 {
			err := tx.Clauses(clause.OnConflict{
				Columns:   []clause.Column{{Name: "xid"}, {Name: "branch_id"}},
				DoUpdates: clause.AssignmentColumns([]string{"status", "attempts", "last_error", "updated_at"}),
			}).CreateInBatches(&rows, 500).Error
			if err != nil {
				return err
			}
		}
		if len(r.Attention) > 0 {
			for _, chunk := range chunks(sortedCopy(r.Attention), 500) {
				if err := tx.Model(&globalRow{}).Where("xid IN ? AND status IN ?", chunk, unfinished).
					Updates(map[string]any{"attention": true, "updated_at": now}).Error; err != nil {
					return err
				}
			}
		}
		for k, xids := range fins {
			for _, chunk := range chunks(sortedCopy(xids), 500) {
				if err := tx.Model(&globalRow{}).Where("xid IN ? AND status = ?", chunk, string(k.from)).
					Updates(map[string]any{"status": string(k.to), "attention": k.attention, "updated_at": now}).Error; err != nil {
					return err
				}
			}
		}
		fencedXIDs = fencedXIDs[:0]
		for x := range fenced {
			fencedXIDs = append(fencedXIDs, x)
		}
		sort.Strings(fencedXIDs)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: apply results: %w", err)
	}
	return fencedXIDs, nil
}

// Claim moves an unfinished transaction from one owner to another (compare-and-set).
func (s *GormStore) Claim(ctx context.Context, xid, from, to string) (bool, error) {
	r := s.db.WithContext(ctx).Model(&globalRow{}).
		Where("xid = ? AND owner = ? AND status IN ?", xid, from, unfinished).
		Updates(map[string]any{"owner": to, "updated_at": time.Now().UTC()})
	if r.Error != nil {
		return false, fmt.Errorf("store: claim %s: %w", xid, r.Error)
	}
	return r.RowsAffected == 1, nil
}

// Get returns one transaction with its branches.
func (s *GormStore) Get(ctx context.Context, xid string) (*Transaction, error) {
	return s.getWhere(ctx, "xid = ?", xid)
}

// GetByIdempotencyKey returns the transaction begun with key.
func (s *GormStore) GetByIdempotencyKey(ctx context.Context, key string) (*Transaction, error) {
	return s.getWhere(ctx, "idem_key = ?", key)
}

func (s *GormStore) getWhere(ctx context.Context, where string, arg string) (*Transaction, error) {
	var g globalRow
	err := s.db.WithContext(ctx).Where(where, arg).Take(&g).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: get: %w", err)
	}
	var bs []branchRow
	if err := s.db.WithContext(ctx).Where("xid = ?", g.XID).Order("seq").Find(&bs).Error; err != nil {
		return nil, fmt.Errorf("store: get branches of %s: %w", g.XID, err)
	}
	return fromRows(g, bs)
}

// List returns a page of transactions, in XID order.
func (s *GormStore) List(ctx context.Context, f ListFilter) ([]Transaction, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		return nil, fmt.Errorf("store: list: limit %d out of 1..1000", f.Limit)
	}
	q := s.db.WithContext(ctx).Model(&globalRow{})
	if f.Status != "" {
		q = q.Where("status = ?", string(f.Status))
	}
	if f.Attention != nil {
		q = q.Where("attention = ?", *f.Attention)
	}
	if f.After != "" {
		q = q.Where("xid > ?", f.After)
	}
	var gs []globalRow
	if err := q.Order("xid").Limit(f.Limit).Find(&gs).Error; err != nil {
		return nil, fmt.Errorf("store: list: %w", err)
	}
	if len(gs) == 0 {
		return []Transaction{}, nil
	}
	xids := make([]string, len(gs))
	for i, g := range gs {
		xids[i] = g.XID
	}
	var bs []branchRow
	if err := s.db.WithContext(ctx).Where("xid IN ?", xids).Order("xid, seq").Find(&bs).Error; err != nil {
		return nil, fmt.Errorf("store: list branches: %w", err)
	}
	byXID := map[string][]branchRow{}
	for _, b := range bs {
		byXID[b.XID] = append(byXID[b.XID], b)
	}
	out := make([]Transaction, 0, len(gs))
	for _, g := range gs {
		t, err := fromRows(g, byXID[g.XID])
		if err != nil {
			return nil, err
		}
		out = append(out, *t)
	}
	return out, nil
}

// Unfinished returns unfinished transactions after the cursor.
func (s *GormStore) Unfinished(ctx context.Context, after string, limit int) ([]Header, error) {
	var gs []globalRow
	err := s.db.WithContext(ctx).Select("xid", "status", "owner", "deadline").
		Where("status IN ? AND xid > ?", unfinished, after).Order("xid").Limit(limit).Find(&gs).Error
	if err != nil {
		return nil, fmt.Errorf("store: unfinished: %w", err)
	}
	out := make([]Header, len(gs))
	for i, g := range gs {
		out[i] = Header{XID: g.XID, Status: tcc.TxStatus(g.Status), Owner: g.Owner, Deadline: g.Deadline.UTC()}
	}
	return out, nil
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}

func chunks(s []string, n int) [][]string {
	var out [][]string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	if len(s) > 0 {
		out = append(out, s)
	}
	return out
}
