package platform

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/internal/conf"
	"github.com/tccsuite/tccsuite/internal/testenv"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// TestStartPurger: a service's purger removes the barrier rows of old finished branches
// and keeps open ones; the purge settings are validated.
func TestStartPurger(t *testing.T) {
	db := testenv.SQLite(t)
	ctx := context.Background()
	if err := tcc.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	b := tcc.NewBarrier(db)
	noop := func(*gorm.DB) error { return nil }
	for _, br := range []tcc.Branch{
		{XID: "done", BranchID: "1", Phase: tcc.PhaseTry}, {XID: "done", BranchID: "1", Phase: tcc.PhaseConfirm},
		{XID: "open", BranchID: "1", Phase: tcc.PhaseTry},
	} {
		if _, err := b.Run(ctx, br, noop); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Table(tcc.BarrierTable).Where("1 = 1").Update("created_at", time.Now().UTC().Add(-30*24*time.Hour)).Error; err != nil {
		t.Fatal(err)
	}
	c := Common{BarrierRetention: 7 * 24 * time.Hour, PurgeInterval: 10 * time.Millisecond}
	stop := c.StartPurger(db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer stop()
	count := func(xid string) int64 {
		var n int64
		if err := db.Table(tcc.BarrierTable).Where("xid = ?", xid).Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n
	}
	deadline := time.Now().Add(30 * time.Second)
	for count("done") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the purger did not remove the finished branch's rows")
		}
		<-time.After(10 * time.Millisecond)
	}
	stop()
	if n := count("open"); n != 1 {
		t.Fatalf("the open branch has %d rows left, want 1", n)
	}

	load := func(env map[string]string) Common {
		var c struct {
			Common `envPrefix:"X_"`
		}
		if err := conf.Load(func(k string) string { return env[k] }, &c); err != nil {
			t.Fatal(err)
		}
		return c.Common
	}
	if err := load(map[string]string{"X_SQLITE_PATH": "x.db", "TCC_INSECURE": "true", "X_BARRIER_RETENTION": "5m"}).Validate("X_"); err == nil {
		t.Error("a 5-minute barrier retention was accepted")
	}
	def := load(nil)
	if def.BarrierRetention != DefaultBarrierRetention || def.PurgeInterval != time.Hour {
		t.Errorf("defaults %s / %s, want 168h / 1h", def.BarrierRetention, def.PurgeInterval)
	}
	if (Common{}).StartPurger(db, slog.Default()) == nil {
		t.Error("a disabled purger returned no stop func")
	}
}
