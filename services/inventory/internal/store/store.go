// Package store keeps the inventory's stock in MySQL or SQLite. Every stock change is a
// single conditional UPDATE whose WHERE clause carries the business rule (enough
// available, the same price), so concurrent reservations can neither oversell nor lose
// an update, on either database, without a locking read.
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
	"github.com/tccsuite/tccsuite/services/inventory/internal/domain"
)

// stockRow is the gorm model of the stock table.
type stockRow struct {
	SKU       string    `gorm:"column:sku;primaryKey"`
	Price     int64     `gorm:"column:price"`
	Available int64     `gorm:"column:available"`
	Reserved  int64     `gorm:"column:reserved"`
	Sold      int64     `gorm:"column:sold"`
	Version   int64     `gorm:"column:version"`
	UpdatedAt time.Time `gorm:"column:updated_at"`
}

func (stockRow) TableName() string { return "stock" }

func (r stockRow) toDomain() domain.Item {
	return domain.Item{SKU: r.SKU, Price: r.Price, Available: r.Available, Reserved: r.Reserved, Sold: r.Sold, Version: r.Version}
}

// Store is the inventory's repository. Methods taking a tx run inside the caller's
// transaction (the TCC barrier's); the others use their own.
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

// Get returns one item, or domain.ErrNotFound.
func (s *Store) Get(ctx context.Context, sku string) (domain.Item, error) {
	return get(s.db.WithContext(ctx), sku)
}

func get(tx *gorm.DB, sku string) (domain.Item, error) {
	var row stockRow
	err := tx.Where("sku = ?", sku).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return domain.Item{}, fmt.Errorf("get %s: %w", sku, domain.ErrNotFound)
	}
	if err != nil {
		return domain.Item{}, fmt.Errorf("get %s: %w", sku, err)
	}
	return row.toDomain(), nil
}

// List returns up to limit items ordered by SKU, starting after the SKU after.
func (s *Store) List(ctx context.Context, after string, limit int) ([]domain.Item, error) {
	var rows []stockRow
	q := s.db.WithContext(ctx).Order("sku").Limit(limit)
	if after != "" {
		q = q.Where("sku > ?", after)
	}
	if err := q.Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list stock: %w", err)
	}
	items := make([]domain.Item, len(rows))
	for i, r := range rows {
		items[i] = r.toDomain()
	}
	return items, nil
}

// Put creates the item, or resets its price and available count keeping reserved and
// sold (so reservations in flight still confirm or cancel). Idempotent.
func (s *Store) Put(ctx context.Context, sku string, r domain.Restock) (domain.Item, error) {
	var it domain.Item
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		row := stockRow{SKU: sku, Price: r.Price, Available: r.Available, UpdatedAt: time.Now().UTC()}
		err := tx.Clauses(clause.OnConflict{
			Columns: []clause.Column{{Name: "sku"}},
			DoUpdates: clause.Assignments(map[string]any{
				"price": r.Price, "available": r.Available,
				"version": gorm.Expr("stock.version + 1"), "updated_at": row.UpdatedAt,
			}),
		}).Create(&row).Error
		if err != nil {
			return err
		}
		it, err = get(tx, sku)
		return err
	})
	if err != nil {
		return domain.Item{}, fmt.Errorf("put %s: %w", sku, err)
	}
	return it, nil
}

// Reserve moves r.Quantity of r.SKU from available to reserved inside tx, only if the
// price is still r.UnitPrice and enough is available. It returns domain.ErrNotFound,
// ErrPriceChanged or ErrOutOfStock (wrapped) and changes nothing otherwise.
func (s *Store) Reserve(ctx context.Context, tx *gorm.DB, r domain.Reservation) error {
	res := tx.WithContext(ctx).Exec(`UPDATE stock SET available = available - ?, reserved = reserved + ?, version = version + 1, updated_at = ?
WHERE sku = ? AND price = ? AND available >= ?`, r.Quantity, r.Quantity, time.Now().UTC(), r.SKU, r.UnitPrice, r.Quantity)
	if res.Error != nil {
		return fmt.Errorf("reserve %s: %w", r.SKU, res.Error)
	}
	if res.RowsAffected == 1 {
		return nil
	}
	it, err := get(tx.WithContext(ctx), r.SKU)
	if err != nil {
		return fmt.Errorf("reserve: %w", err)
	}
	if err := it.CanReserve(r); err != nil {
		return fmt.Errorf("reserve: %w", err)
	}
	// The row allowed it a moment later: a concurrent change raced the update. Report a
	// shortage rather than guessing; the order can be placed again.
	return fmt.Errorf("reserve %s: %w (concurrent change)", r.SKU, domain.ErrOutOfStock)
}

// Sell moves a reservation's quantity from reserved to sold inside tx (Confirm).
func (s *Store) Sell(ctx context.Context, tx *gorm.DB, r domain.Reservation) error {
	return move(ctx, tx, r, `UPDATE stock SET reserved = reserved - ?, sold = sold + ?, version = version + 1, updated_at = ?
WHERE sku = ? AND reserved >= ?`, "sell")
}

// Release moves a reservation's quantity from reserved back to available inside tx
// (Cancel).
func (s *Store) Release(ctx context.Context, tx *gorm.DB, r domain.Reservation) error {
	return move(ctx, tx, r, `UPDATE stock SET reserved = reserved - ?, available = available + ?, version = version + 1, updated_at = ?
WHERE sku = ? AND reserved >= ?`, "release")
}

func move(ctx context.Context, tx *gorm.DB, r domain.Reservation, stmt, op string) error {
	res := tx.WithContext(ctx).Exec(stmt, r.Quantity, r.Quantity, time.Now().UTC(), r.SKU, r.Quantity)
	if res.Error != nil {
		return fmt.Errorf("%s %s: %w", op, r.SKU, res.Error)
	}
	if res.RowsAffected != 1 {
		return fmt.Errorf("%s %s x%d: %w", op, r.SKU, r.Quantity, domain.ErrInconsistent)
	}
	return nil
}
