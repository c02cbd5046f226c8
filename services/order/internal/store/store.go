// Package store keeps orders and idempotency keys in MySQL or SQLite.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tccsuite/tccsuite/internal/migrate"
	"github.com/tccsuite/tccsuite/internal/textx"
	"github.com/tccsuite/tccsuite/services/order/internal/domain"
)

type orderRow struct {
	ID        string    `gorm:"column:id;primaryKey"`
	XID       string    `gorm:"column:xid"`
	UserID    string    `gorm:"column:user_id"`
	SKU       string    `gorm:"column:sku"`
	Quantity  int64     `gorm:"column:quantity"`
	UnitPrice int64     `gorm:"column:unit_price"`
	Amount    int64     `gorm:"column:amount"`
	Status    string    `gorm:"column:status"`
	CreatedAt time.Time `gorm:"column:created_at"`
	UpdatedAt time.Time `gorm:"column:updated_at"`
}

func (orderRow) TableName() string { return "orders" }

func (r orderRow) toDomain() domain.Order {
	return domain.Order{ID: r.ID, XID: r.XID, UserID: r.UserID, SKU: r.SKU, Quantity: r.Quantity,
		UnitPrice: r.UnitPrice, Amount: r.Amount, Status: domain.Status(r.Status), CreatedAt: r.CreatedAt}
}

type idemRow struct {
	Key         string    `gorm:"column:idem_key;primaryKey"`
	Fingerprint string    `gorm:"column:fingerprint"`
	OrderID     string    `gorm:"column:order_id"`
	XID         string    `gorm:"column:xid"`
	UnitPrice   int64     `gorm:"column:unit_price"`
	Amount      int64     `gorm:"column:amount"`
	TimeoutMS   int64     `gorm:"column:timeout_ms"`
	Outcome     string    `gorm:"column:outcome"`
	Message     string    `gorm:"column:message"`
	CreatedAt   time.Time `gorm:"column:created_at"`
}

func (idemRow) TableName() string { return "idempotency_keys" }

// IdemRecord is what an Idempotency-Key stands for: the request's fingerprint, the order
// ID it was given, the priced placement the first request sent to the coordinator
// (UnitPrice, Amount, TimeoutMS: a retry sends exactly the same transaction, never a
// re-priced one) and, once decided, its outcome.
type IdemRecord struct {
	Key         string
	Fingerprint string
	OrderID     string
	XID         string
	UnitPrice   int64
	Amount      int64
	// TimeoutMS is the transaction timeout the placement was begun with; 0 only for a key
	// claimed by a version that did not store its placement.
	TimeoutMS int64
	Outcome   domain.Outcome
	Message   string
}

// Priced reports whether the record holds the placement its first request began.
func (r IdemRecord) Priced() bool { return r.TimeoutMS > 0 }

// Store is the order service's repository.
type Store struct {
	db *gorm.DB
}

// New returns a Store over db.
func New(db *gorm.DB) *Store { return &Store{db: db} }

// Migrate brings the schema to its newest version (Schema, which includes the TCC
// barrier's table; see migrate.Up): idempotent, and safe while other replicas run it on
// the same database.
func Migrate(ctx context.Context, db *gorm.DB) error {
	_, err := migrate.Up(ctx, db, Schema, slog.Default())
	return err
}

// Insert writes a new PENDING order inside tx (the order branch's Try).
func (s *Store) Insert(ctx context.Context, tx *gorm.DB, xid string, p domain.Placement) error {
	now := time.Now().UTC()
	row := orderRow{ID: p.OrderID, XID: xid, UserID: p.UserID, SKU: p.SKU, Quantity: p.Quantity,
		UnitPrice: p.UnitPrice, Amount: p.Amount, Status: string(domain.StatusPending), CreatedAt: now, UpdatedAt: now}
	if err := tx.WithContext(ctx).Create(&row).Error; err != nil {
		return fmt.Errorf("insert order %s: %w", p.OrderID, err)
	}
	return nil
}

// RecordCancelled writes the order as CANCELLED unless a row for it exists, so that a
// refused order can be read back even when its Try never committed (the coordinator
// cancelled it in flight after another branch refused). It is only called once the
// transaction is decided Cancel, and is safe against every interleaving with the branch:
// a Try that committed first keeps its row (its Cancel marks it CANCELLED); a Try that
// comes later fails on the duplicate key, or is stopped by the barrier once the Cancel
// ran, and changes nothing. Idempotent.
func (s *Store) RecordCancelled(ctx context.Context, xid string, p domain.Placement) error {
	now := time.Now().UTC()
	row := orderRow{ID: p.OrderID, XID: xid, UserID: p.UserID, SKU: p.SKU, Quantity: p.Quantity,
		UnitPrice: p.UnitPrice, Amount: p.Amount, Status: string(domain.StatusCancelled), CreatedAt: now, UpdatedAt: now}
	if err := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
		return fmt.Errorf("record cancelled order %s: %w", p.OrderID, err)
	}
	return nil
}

// Finish moves a PENDING order to status inside tx (Confirm or Cancel). It fails with
// ErrInconsistent if the order is missing or already in the other final state.
func (s *Store) Finish(ctx context.Context, tx *gorm.DB, orderID string, status domain.Status) error {
	tx = tx.WithContext(ctx)
	res := tx.Exec("UPDATE orders SET status = ?, updated_at = ? WHERE id = ? AND status = ?",
		string(status), time.Now().UTC(), orderID, string(domain.StatusPending))
	if res.Error != nil {
		return fmt.Errorf("finish order %s: %w", orderID, res.Error)
	}
	if res.RowsAffected == 1 {
		return nil
	}
	o, err := get(tx, orderID)
	if err != nil {
		return fmt.Errorf("finish order %s: %w: %w", orderID, domain.ErrInconsistent, err)
	}
	if o.Status == status {
		return nil
	}
	return fmt.Errorf("finish order %s as %s: it is %s: %w", orderID, status, o.Status, domain.ErrInconsistent)
}

// Get returns one order, or domain.ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (domain.Order, error) {
	return get(s.db.WithContext(ctx), id)
}

func get(tx *gorm.DB, id string) (domain.Order, error) {
	var row orderRow
	err := tx.Where("id = ?", id).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return domain.Order{}, fmt.Errorf("get order %s: %w", id, domain.ErrNotFound)
	}
	if err != nil {
		return domain.Order{}, fmt.Errorf("get order %s: %w", id, err)
	}
	return row.toDomain(), nil
}

// ListByUser returns up to limit of the user's orders, oldest first, after the order
// with ID after (empty: from the start).
func (s *Store) ListByUser(ctx context.Context, userID, after string, limit int) ([]domain.Order, error) {
	q := s.db.WithContext(ctx).Where("user_id = ?", userID)
	if after != "" {
		a, err := s.Get(ctx, after)
		if err != nil {
			return nil, err
		}
		q = q.Where("(created_at > ? OR (created_at = ? AND id > ?))", a.CreatedAt, a.CreatedAt, a.ID)
	}
	var rows []orderRow
	if err := q.Order("created_at, id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list orders of %s: %w", userID, err)
	}
	out := make([]domain.Order, len(rows))
	for i, r := range rows {
		out[i] = r.toDomain()
	}
	return out, nil
}

// CountByStatus returns the number of orders in each status.
func (s *Store) CountByStatus(ctx context.Context) (map[domain.Status]int64, error) {
	var rows []struct {
		Status string
		N      int64
	}
	if err := s.db.WithContext(ctx).Raw("SELECT status, COUNT(*) AS n FROM orders GROUP BY status").Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("count orders: %w", err)
	}
	out := map[domain.Status]int64{}
	for _, r := range rows {
		out[domain.Status(r.Status)] = r.N
	}
	return out, nil
}

// Lookup returns the key's record, and false if the key is not recorded.
func (s *Store) Lookup(ctx context.Context, key string) (IdemRecord, bool, error) {
	var got idemRow
	err := s.db.WithContext(ctx).Where("idem_key = ?", key).Take(&got).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return IdemRecord{}, false, nil
	}
	if err != nil {
		return IdemRecord{}, false, fmt.Errorf("read idempotency key: %w", err)
	}
	return IdemRecord{Key: got.Key, Fingerprint: got.Fingerprint, OrderID: got.OrderID, XID: got.XID,
		UnitPrice: got.UnitPrice, Amount: got.Amount, TimeoutMS: got.TimeoutMS,
		Outcome: domain.Outcome(got.Outcome), Message: got.Message}, true, nil
}

// Claim records rec (key, fingerprint, order ID and priced placement, undecided) unless
// its key is already recorded; either way it returns the key's record. Idempotent and
// safe under concurrency: exactly one claimant's record wins, and every claimant gets
// it, so all of them begin the same transaction. It relies on the affected-row count of
// an insert-ignore: 0 for a duplicate (dbx forces clientFoundRows off on MySQL).
func (s *Store) Claim(ctx context.Context, rec IdemRecord) (IdemRecord, error) {
	row := idemRow{Key: rec.Key, Fingerprint: rec.Fingerprint, OrderID: rec.OrderID, UnitPrice: rec.UnitPrice,
		Amount: rec.Amount, TimeoutMS: rec.TimeoutMS, CreatedAt: time.Now().UTC()}
	// A key forgotten or purged between the insert and the read is claimed again.
	for attempt := 0; attempt < 3; attempt++ {
		res := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
		if res.Error != nil {
			return IdemRecord{}, fmt.Errorf("claim idempotency key: %w", res.Error)
		}
		if res.RowsAffected == 1 { // ours: no need to read it back
			return IdemRecord{Key: rec.Key, Fingerprint: rec.Fingerprint, OrderID: rec.OrderID, UnitPrice: rec.UnitPrice,
				Amount: rec.Amount, TimeoutMS: rec.TimeoutMS}, nil
		}
		got, ok, err := s.Lookup(ctx, rec.Key)
		if err != nil || ok {
			return got, err
		}
	}
	return IdemRecord{}, fmt.Errorf("claim idempotency key %q: it keeps vanishing", rec.Key)
}

// Decide records the final outcome of the key's order; later replays repeat it.
func (s *Store) Decide(ctx context.Context, rec IdemRecord) error {
	msg := textx.Truncate(rec.Message, 500) // never split a UTF-8 sequence
	err := s.db.WithContext(ctx).Exec("UPDATE idempotency_keys SET xid = ?, amount = ?, outcome = ?, message = ? WHERE idem_key = ? AND order_id = ?",
		rec.XID, rec.Amount, string(rec.Outcome), msg, rec.Key, rec.OrderID).Error
	if err != nil {
		return fmt.Errorf("decide idempotency key: %w", err)
	}
	return nil
}

// PurgeKeys deletes idempotency keys claimed more than retention ago, batch keys per
// statement, and returns how many it deleted. A key is therefore remembered for at least
// retention: a retry after that may place a new order. Safe on several replicas at once.
func (s *Store) PurgeKeys(ctx context.Context, retention time.Duration, batch int) (int64, error) {
	if retention <= 0 || batch <= 0 {
		return 0, fmt.Errorf("purge idempotency keys: retention and batch must be positive")
	}
	cutoff := time.Now().UTC().Add(-retention)
	var total int64
	for {
		var keys []string
		if err := s.db.WithContext(ctx).Table("idempotency_keys").Where("created_at < ?", cutoff).
			Limit(batch).Pluck("idem_key", &keys).Error; err != nil {
			return total, fmt.Errorf("purge idempotency keys: %w", err)
		}
		if len(keys) == 0 {
			return total, nil
		}
		res := s.db.WithContext(ctx).Exec("DELETE FROM idempotency_keys WHERE idem_key IN ? AND created_at < ?", keys, cutoff)
		if res.Error != nil {
			return total, fmt.Errorf("purge idempotency keys: %w", res.Error)
		}
		total += res.RowsAffected
		if len(keys) < batch || res.RowsAffected == 0 {
			return total, nil
		}
	}
}

// Forget drops the key's claim if it still names orderID and is undecided, so that a
// retry with the key places a fresh order (used after a technical failure cancelled the
// first one: nothing of it is held).
func (s *Store) Forget(ctx context.Context, key, orderID string) error {
	err := s.db.WithContext(ctx).Exec("DELETE FROM idempotency_keys WHERE idem_key = ? AND order_id = ? AND outcome = ''", key, orderID).Error
	if err != nil {
		return fmt.Errorf("forget idempotency key: %w", err)
	}
	return nil
}
