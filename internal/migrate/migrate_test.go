package migrate_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/pressly/goose/v3/database"
	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/internal/migrate"
	"github.com/tccsuite/tccsuite/internal/testenv"
)

// Two versions, the same SQL on both databases. Version 1 is deliberately not idempotent
// (no IF NOT EXISTS): running it on a database that has its table fails, so a test can
// tell a version adopted from a version run.
const (
	v1 = "-- +goose Up\nCREATE TABLE widgets (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(32) NOT NULL);\n"
	v2 = "-- +goose Up\nALTER TABLE widgets ADD COLUMN size INTEGER NOT NULL DEFAULT 0;\n"
)

func files(extra map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for _, d := range []string{"mysql", "sqlite"} {
		fsys[d+"/00001_widgets.sql"] = &fstest.MapFile{Data: []byte(v1)}
		fsys[d+"/00002_widget_size.sql"] = &fstest.MapFile{Data: []byte(v2)}
	}
	for name, body := range extra {
		fsys[name] = &fstest.MapFile{Data: []byte(body)}
	}
	return fsys
}

func testSet() migrate.Set { return migrate.Set{Component: "widgets", FS: files(nil)} }

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func versions(rep migrate.Report) []int64 {
	var out []int64
	for _, a := range rep.Applied {
		out = append(out, a.Version)
	}
	return out
}

func mustStatus(t *testing.T, db *gorm.DB, set migrate.Set) []bool {
	t.Helper()
	vs, err := migrate.Status(context.Background(), db, set)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]bool, len(vs))
	for i, v := range vs {
		out[i] = v.Applied
		if v.Applied && v.AppliedAt.IsZero() {
			t.Fatalf("version %d applied at zero time", v.Version)
		}
	}
	return out
}

func TestUp(t *testing.T) {
	for name, open := range testenv.Databases(t) {
		t.Run(name, func(t *testing.T) {
			t.Run("new database", func(t *testing.T) { testNewDatabase(t, open(t)) })
			t.Run("adopts a database made before versioned migrations", func(t *testing.T) { testAdopt(t, open(t)) })
			t.Run("repairs a history without version 0", func(t *testing.T) { testEmptyHistory(t, open(t)) })
			t.Run("a failing version keeps the ones before", func(t *testing.T) { testFailure(t, open(t)) })
		})
	}
}

func testNewDatabase(t *testing.T, db *gorm.DB) {
	ctx := context.Background()
	set := testSet()
	if got := mustStatus(t, db, set); len(got) != 2 || got[0] || got[1] {
		t.Fatalf("status of a new database: %v", got)
	}
	if db.Migrator().HasTable(set.Table()) {
		t.Fatal("status wrote the version table")
	}
	rep, err := migrate.Up(ctx, db, set, quiet())
	if err != nil {
		t.Fatal(err)
	}
	if got := versions(rep); rep.Adopted != 0 || rep.Version != 2 || len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("first up: %+v", rep)
	}
	if rep.Applied[0].File != "00001_widgets.sql" {
		t.Fatalf("file %q", rep.Applied[0].File)
	}
	rep, err = migrate.Up(ctx, db, set, quiet())
	if err != nil || rep.Version != 2 || len(rep.Applied) != 0 {
		t.Fatalf("second up: %+v, %v", rep, err)
	}
	if got := mustStatus(t, db, set); !got[0] || !got[1] {
		t.Fatalf("status: %v", got)
	}
	if err := db.Exec("INSERT INTO widgets (id, name, size) VALUES (1, 'a', 3)").Error; err != nil {
		t.Fatal(err)
	}
}

func testAdopt(t *testing.T, db *gorm.DB) {
	ctx := context.Background()
	set := testSet()
	if err := migrate.ApplyUnrecorded(ctx, db, set, 1); err != nil {
		t.Fatal(err)
	}
	if err := db.Exec("INSERT INTO widgets (id, name) VALUES (7, 'kept')").Error; err != nil {
		t.Fatal(err)
	}
	calls := 0
	set.Baseline = func(_ context.Context, db *gorm.DB) (int64, error) {
		calls++
		if db.Migrator().HasTable("widgets") {
			return 1, nil
		}
		return 0, nil
	}
	rep, err := migrate.Up(ctx, db, set, quiet())
	if err != nil {
		t.Fatal(err) // version 1 run again would fail: its table exists
	}
	if got := versions(rep); rep.Adopted != 1 || rep.Version != 2 || len(got) != 1 || got[0] != 2 {
		t.Fatalf("up: %+v", rep)
	}
	var size int
	if err := db.Raw("SELECT size FROM widgets WHERE id = 7 AND name = 'kept'").Row().Scan(&size); err != nil || size != 0 {
		t.Fatalf("the row after the upgrade: size %d, %v", size, err)
	}
	if _, err := migrate.Up(ctx, db, set, quiet()); err != nil || calls != 1 {
		t.Fatalf("second up: %v; baseline asked %d times, want once", err, calls)
	}
}

func testEmptyHistory(t *testing.T, db *gorm.DB) {
	ctx := context.Background()
	set := testSet()
	// A run that stopped between creating the version table and recording version 0.
	d := database.DialectSQLite3
	if db.Name() == "mysql" {
		d = database.DialectMySQL
	}
	st, err := database.NewStore(d, set.Table())
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateVersionTable(ctx, sqlDB); err != nil {
		t.Fatal(err)
	}
	rep, err := migrate.Up(ctx, db, set, quiet())
	if err != nil || rep.Version != 2 || len(rep.Applied) != 2 {
		t.Fatalf("up: %+v, %v", rep, err)
	}
}

func testFailure(t *testing.T, db *gorm.DB) {
	ctx := context.Background()
	set := migrate.Set{Component: "widgets", FS: files(map[string]string{
		"mysql/00003_broken.sql":  "-- +goose Up\nALTER TABLE no_such_table ADD COLUMN x INTEGER;\n",
		"sqlite/00003_broken.sql": "-- +goose Up\nALTER TABLE no_such_table ADD COLUMN x INTEGER;\n",
	})}
	rep, err := migrate.Up(ctx, db, set, quiet())
	if err == nil || !strings.Contains(err.Error(), "widgets") {
		t.Fatalf("up of a broken version: %v", err)
	}
	if got := versions(rep); len(got) != 2 {
		t.Fatalf("applied before the failure: %v", got)
	}
	if got := mustStatus(t, db, set); !got[0] || !got[1] || got[2] {
		t.Fatalf("status: %v", got)
	}
}

func TestBadSets(t *testing.T) {
	db := testenv.SQLite(t)
	onlyMySQL := files(map[string]string{"mysql/00003_more.sql": v2})
	for _, tc := range []struct {
		name string
		set  migrate.Set
		want string
	}{
		{"bad component", migrate.Set{Component: "Order", FS: files(nil)}, "bad component name"},
		{"long component", migrate.Set{Component: strings.Repeat("a", 25), FS: files(nil)}, "bad component name"},
		{"no files", migrate.Set{Component: "x"}, "no migrations"},
		{"a version for one database only", migrate.Set{Component: "x", FS: onlyMySQL}, "differ"},
		{"no directory for a database", migrate.Set{Component: "x", FS: fstest.MapFS{"mysql/00001_a.sql": {Data: []byte(v1)}}}, "no migrations in sqlite/"},
		{"baseline out of range", migrate.Set{Component: "x", FS: files(nil),
			Baseline: func(context.Context, *gorm.DB) (int64, error) { return 3, nil }}, "out of 0..2"},
		{"baseline fails", migrate.Set{Component: "x", FS: files(nil),
			Baseline: func(context.Context, *gorm.DB) (int64, error) { return 0, errors.New("boom") }}, "boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := migrate.Up(context.Background(), db, tc.set, quiet())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}
