// Package store keeps accounts and captured payments in MySQL or SQLite. Every change of
// an account is a single conditional UPDATE carrying the business rule (enough balance,
// enough frozen), so concurrent holds can neither overdraw nor lose an update.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tccsuite/tccsuite/internal/migrate"
	"github.com/tccsuite/tccsuite/services/payment/internal/domain"
)

// accountRow is the gorm model of accounts; captured is computed from payments.
type accountRow struct {
	ID        string    `gorm:"column:id;primaryKey"`
	Balance   int64     `gorm:"column:balance"`
	Frozen    int64     `gorm:"column:frozen"`
	Version   int64     `gorm:"column:version"`
	UpdatedAt time.Time `gorm:"column:updated_at"`
	Captured  int64     `gorm:"column:captured;->"`
}

func (accountRow) TableName() string { return "accounts" }

func (r accountRow) toDomain() domain.Account {
	return domain.Account{ID: r.ID, Balance: r.Balance, Frozen: r.Frozen, Captured: r.Captured, Version: r.Version}
}

// paymentRow is one capture: exactly one per order (unique order_id).
type paymentRow struct {
	ID        int64     `gorm:"column:id;primaryKey;autoIncrement"`
	OrderID   string    `gorm:"column:order_id"`
	XID       string    `gorm:"column:xid"`
	AccountID string    `gorm:"column:account_id"`
	Amount    int64     `gorm:"column:amount"`
	CreatedAt time.Time `gorm:"column:created_at"`
}

func (paymentRow) TableName() string { return "payments" }

// Payment is a captured payment as the store reports it.
type Payment struct {
	OrderID   string
	XID       string
	AccountID string
	Amount    int64
	CreatedAt time.Time
}

// Store is the payment service's repository. Methods taking a tx run inside the
// caller's transaction (the TCC barrier's); the others use their own.
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

const selectAccount = `SELECT a.id, a.balance, a.frozen, a.version, a.updated_at,
  COALESCE((SELECT SUM(p.amount) FROM payments p WHERE p.account_id = a.id), 0) AS captured
FROM accounts a`

// Get returns one account with its captured total, or domain.ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (domain.Account, error) {
	return get(s.db.WithContext(ctx), id)
}

func get(tx *gorm.DB, id string) (domain.Account, error) {
	var rows []accountRow
	if err := tx.Raw(selectAccount+" WHERE a.id = ?", id).Scan(&rows).Error; err != nil {
		return domain.Account{}, fmt.Errorf("get account %s: %w", id, err)
	}
	if len(rows) == 0 {
		return domain.Account{}, fmt.Errorf("get account %s: %w", id, domain.ErrNotFound)
	}
	return rows[0].toDomain(), nil
}

// List returns up to limit accounts ordered by ID, starting after the ID after.
func (s *Store) List(ctx context.Context, after string, limit int) ([]domain.Account, error) {
	var rows []accountRow
	if err := s.db.WithContext(ctx).Raw(selectAccount+" WHERE a.id > ? ORDER BY a.id LIMIT ?", after, limit).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	out := make([]domain.Account, len(rows))
	for i, r := range rows {
		out[i] = r.toDomain()
	}
	return out, nil
}

// Put creates the account, or resets its balance keeping frozen funds and payments (so
// holds in flight still capture or release). Idempotent.
func (s *Store) Put(ctx context.Context, id string, balance int64) (domain.Account, error) {
	var a domain.Account
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		row := accountRow{ID: id, Balance: balance, UpdatedAt: time.Now().UTC()}
		err := tx.Omit("captured").Clauses(clause.OnConflict{
			Columns: []clause.Column{{Name: "id"}},
			DoUpdates: clause.Assignments(map[string]any{
				"balance": balance, "version": gorm.Expr("accounts.version + 1"), "updated_at": row.UpdatedAt,
			}),
		}).Create(&row).Error
		if err != nil {
			return err
		}
		a, err = get(tx, id)
		return err
	})
	if err != nil {
		return domain.Account{}, fmt.Errorf("put account %s: %w", id, err)
	}
	return a, nil
}

// Freeze moves h.Amount from balance to frozen inside tx, only if the balance covers it.
// It returns domain.ErrNotFound or ErrInsufficientFunds (wrapped) and changes nothing
// otherwise.
func (s *Store) Freeze(ctx context.Context, tx *gorm.DB, h domain.Hold) error {
	res := tx.WithContext(ctx).Exec(`UPDATE accounts SET balance = balance - ?, frozen = frozen + ?, version = version + 1, updated_at = ?
WHERE id = ? AND balance >= ?`, h.Amount, h.Amount, time.Now().UTC(), h.AccountID, h.Amount)
	if res.Error != nil {
		return fmt.Errorf("freeze %s: %w", h.AccountID, res.Error)
	}
	if res.RowsAffected == 1 {
		return nil
	}
	a, err := get(tx.WithContext(ctx), h.AccountID)
	if err != nil {
		return fmt.Errorf("freeze: %w", err)
	}
	if err := a.CanFreeze(h); err != nil {
		return fmt.Errorf("freeze: %w", err)
	}
	return fmt.Errorf("freeze %s: %w (concurrent change)", h.AccountID, domain.ErrInsufficientFunds)
}

// Capture takes a hold's frozen amount for good inside tx (Confirm): frozen decreases
// and one payments row is written for the order. A second capture for the same order
// fails with ErrInconsistent and rolls back.
func (s *Store) Capture(ctx context.Context, tx *gorm.DB, xid string, h domain.Hold) error {
	tx = tx.WithContext(ctx)
	now := time.Now().UTC()
	res := tx.Exec(`UPDATE accounts SET frozen = frozen - ?, version = version + 1, updated_at = ? WHERE id = ? AND frozen >= ?`,
		h.Amount, now, h.AccountID, h.Amount)
	if res.Error != nil {
		return fmt.Errorf("capture %s: %w", h.AccountID, res.Error)
	}
	if res.RowsAffected != 1 {
		return fmt.Errorf("capture %s %d: %w", h.AccountID, h.Amount, domain.ErrInconsistent)
	}
	err := tx.Create(&paymentRow{
		OrderID: h.OrderID, XID: xid, AccountID: h.AccountID, Amount: h.Amount, CreatedAt: now,
	}).Error
	if isDuplicate(err) {
		return fmt.Errorf("capture: order %s already has a payment: %w", h.OrderID, domain.ErrInconsistent)
	}
	if err != nil {
		return fmt.Errorf("capture %s: record payment: %w", h.OrderID, err)
	}
	return nil
}

// Release moves a hold's amount from frozen back to balance inside tx (Cancel).
func (s *Store) Release(ctx context.Context, tx *gorm.DB, h domain.Hold) error {
	res := tx.WithContext(ctx).Exec(`UPDATE accounts SET frozen = frozen - ?, balance = balance + ?, version = version + 1, updated_at = ?
WHERE id = ? AND frozen >= ?`, h.Amount, h.Amount, time.Now().UTC(), h.AccountID, h.Amount)
	if res.Error != nil {
		return fmt.Errorf("release %s: %w", h.AccountID, res.Error)
	}
	if res.RowsAffected != 1 {
		return fmt.Errorf("release %s %d: %w", h.AccountID, h.Amount, domain.ErrInconsistent)
	}
	return nil
}

// Payments returns the payments of an order (zero or one), for checks and tests.
func (s *Store) Payments(ctx context.Context, orderID string) ([]Payment, error) {
	var rows []paymentRow
	if err := s.db.WithContext(ctx).Where("order_id = ?", orderID).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("payments of %s: %w", orderID, err)
	}
	out := make([]Payment, len(rows))
	for i, r := range rows {
		out[i] = Payment{OrderID: r.OrderID, XID: r.XID, AccountID: r.AccountID, Amount: r.Amount, CreatedAt: r.CreatedAt}
	}
	return out, nil
}

// CountPayments returns the number of payments rows and their total.
func (s *Store) CountPayments(ctx context.Context) (n, total int64, err error) {
	var r struct {
		N     int64
		Total int64
	}
	if err := s.db.WithContext(ctx).Raw("SELECT COUNT(*) AS n, COALESCE(SUM(amount), 0) AS total FROM payments").Scan(&r).Error; err != nil {
		return 0, 0, fmt.Errorf("count payments: %w", err)
	}
	return r.N, r.Total, nil
}

// isDuplicate reports a unique-key violation: MySQL 1062, SQLite constraint
// (primary key 1555, unique 2067).
func isDuplicate(err error) bool {
	var me *mysqldrv.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1062
	}
	var coder interface{ Code() int }
	if errors.As(err, &coder) {
		return coder.Code() == 1555 || coder.Code() == 2067
	}
	return false
}
