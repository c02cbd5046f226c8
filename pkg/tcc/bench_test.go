package tcc_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/pkg/tcc"
	"github.com/tccsuite/tccsuite/pkg/tcc/internal/testenv"
)

// BenchmarkBarrierTry measures one barrier-guarded Try on MariaDB: the barrier insert and
// a conditional UPDATE of a business row (64 rows, spread over), in one local transaction.
func BenchmarkBarrierTry(b *testing.B) {
	db := testenv.MySQL(b, 64)
	migrateTest(b, db)
	if err := db.AutoMigrate(&pool{}); err != nil {
		b.Fatal(err)
	}
	const rows = 64
	for i := 1; i <= rows; i++ {
		if err := db.Create(&pool{ID: i, Available: 1 << 40}).Error; err != nil {
			b.Fatal(err)
		}
	}
	bar := tcc.NewBarrier(db)
	var seq atomic.Int64
	try := func() error {
		n := seq.Add(1)
		br := tcc.Branch{XID: fmt.Sprintf("bench-%d", n), BranchID: "b1", Phase: tcc.PhaseTry}
		_, err := bar.Run(context.Background(), br, func(tx *gorm.DB) error {
			return tx.Model(&pool{}).Where("id = ? AND available >= 1", n%rows+1).
				Updates(map[string]any{"available": gorm.Expr("available - 1"), "held": gorm.Expr("held + 1")}).Error
		})
		return err
	}
	b.Run("serial", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := try(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetParallelism(16) // 32 goroutines on 2 cores
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := try(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
