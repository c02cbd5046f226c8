package migrate_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/internal/dbx"
	"github.com/tccsuite/tccsuite/internal/migrate"
	"github.com/tccsuite/tccsuite/internal/testenv"
)

// TestReplicasAtOnce starts several processes' migrations on one MariaDB database at the
// same moment, each with its own pool of one connection: every one succeeds, each
// version runs once, and a database made before versioned migrations is adopted once.
func TestReplicasAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name    string
		legacy  bool
		applied int // versions run, over all replicas
	}{
		{"new database", false, 2},
		{"database made before versioned migrations", true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dsn := testenv.NewMySQLDSN(t)
			set := testSet()
			set.Baseline = func(_ context.Context, db *gorm.DB) (int64, error) {
				if db.Migrator().HasTable("widgets") {
					return 1, nil
				}
				return 0, nil
			}
			const replicas = 6
			dbs := make([]*gorm.DB, replicas)
			for i := range dbs {
				db, err := dbx.Open(ctx, dbx.Config{MySQLDSN: dsn, MaxOpenConns: 1})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = dbx.Close(db) })
				dbs[i] = db
			}
			if tc.legacy {
				if err := migrate.ApplyUnrecorded(ctx, dbs[0], set, 1); err != nil {
					t.Fatal(err)
				}
			}
			reps := make([]migrate.Report, replicas)
			errs := make([]error, replicas)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range dbs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					reps[i], errs[i] = migrate.Up(ctx, dbs[i], set, quiet())
				}()
			}
			close(start)
			wg.Wait()
			applied, adopted := 0, 0
			for i := range reps {
				if errs[i] != nil {
					t.Fatalf("replica %d: %v", i, errs[i])
				}
				if reps[i].Version != 2 {
					t.Fatalf("replica %d: version %d", i, reps[i].Version)
				}
				applied += len(reps[i].Applied)
				if reps[i].Adopted != 0 {
					adopted++
				}
			}
			wantAdopted := 0
			if tc.legacy {
				wantAdopted = 1
			}
			if applied != tc.applied || adopted != wantAdopted {
				t.Fatalf("versions run %d (want %d), adoptions %d (want %d)", applied, tc.applied, adopted, wantAdopted)
			}
			var rows []struct{ VersionID, N int64 }
			if err := dbs[0].Raw("SELECT version_id, COUNT(*) AS n FROM " + set.Table() + " GROUP BY version_id ORDER BY version_id").Scan(&rows).Error; err != nil {
				t.Fatal(err)
			}
			if len(rows) != 3 {
				t.Fatalf("history %+v, want versions 0, 1, 2", rows)
			}
			for _, r := range rows {
				if r.N != 1 {
					t.Fatalf("history %+v: version %d recorded %d times", rows, r.VersionID, r.N)
				}
			}
		})
	}
}

// TestUpWaitsForTheLock holds the migration lock from another connection, as a process
// migrating the same database would: Up waits in GET_LOCK, and runs once it is released.
func TestUpWaitsForTheLock(t *testing.T) {
	ctx := context.Background()
	db := testenv.MySQL(t, 4)
	set := testSet()
	holder, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := holder.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	const name = "CONCAT('goose_', 'widgets', '_', MD5(DATABASE()))"
	var got int
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK("+name+", 0)").Scan(&got); err != nil || got != 1 {
		t.Fatalf("take the lock: %d, %v", got, err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := migrate.Up(ctx, db, set, quiet())
		done <- err
	}()
	// Wait until Up is blocked in GET_LOCK on the server.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for waiting := 0; waiting == 0; {
		select {
		case err := <-done:
			t.Fatalf("Up returned while the lock was held: %v", err)
		case <-tick.C:
		}
		if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND INFO LIKE 'SELECT GET_LOCK(%'").Scan(&waiting); err != nil {
			t.Fatal(err)
		}
	}
	if db.Migrator().HasTable("widgets") {
		t.Fatal("a migration ran while the lock was held")
	}
	if err := conn.QueryRowContext(ctx, "SELECT RELEASE_LOCK("+name+")").Scan(&got); err != nil || got != 1 {
		t.Fatalf("release the lock: %d, %v", got, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !db.Migrator().HasTable("widgets") {
		t.Fatal("Up did not run after the lock was released")
	}
}
