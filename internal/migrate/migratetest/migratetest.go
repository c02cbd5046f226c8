// Package migratetest checks components' versioned schemas in their tests: a database made
// before versioned migrations, the version a database is at, and a table that two ways of
// creating it must make alike.
package migratetest

import (
	"context"
	"slices"
	"testing"

	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/internal/migrate"
	"github.com/tccsuite/tccsuite/internal/testenv"
)

// Legacy makes db what the code before versioned migrations made: the tables of set's
// versions up to upTo, and no history.
func Legacy(t testing.TB, db *gorm.DB, set migrate.Set, upTo int64) {
	t.Helper()
	if err := migrate.ApplyUnrecorded(context.Background(), db, set, upTo); err != nil {
		t.Fatal(err)
	}
	if db.Migrator().HasTable(set.Table()) {
		t.Fatalf("a legacy database has no %s", set.Table())
	}
}

// AtLatest fails t unless db has every version of set.
func AtLatest(t testing.TB, db *gorm.DB, set migrate.Set) {
	t.Helper()
	vs, err := migrate.Status(context.Background(), db, set)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if !v.Applied {
			t.Fatalf("%s: version %d (%s) is pending", set.Component, v.Version, v.File)
		}
	}
}

// SameTable fails t unless set's migrations and create make table alike (the same
// SHOW CREATE TABLE on MariaDB; the same CREATE statements of the table and its indexes
// on SQLite), on each database the suite supports.
func SameTable(t *testing.T, set migrate.Set, table string, create func(ctx context.Context, db *gorm.DB) error) {
	for name, open := range testenv.Databases(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			migrated, created := open(t), open(t)
			if _, err := migrate.Up(ctx, migrated, set, testLog(t)); err != nil {
				t.Fatal(err)
			}
			if err := create(ctx, created); err != nil {
				t.Fatal(err)
			}
			got, want := definition(t, migrated, table), definition(t, created, table)
			if !slices.Equal(got, want) {
				t.Fatalf("%s made by the %s migrations:\n%q\nmade by the other way:\n%q", table, set.Component, got, want)
			}
		})
	}
}

func definition(t *testing.T, db *gorm.DB, table string) []string {
	t.Helper()
	var out []string
	if db.Name() == "mysql" {
		var name, ddl string
		if err := db.Raw("SHOW CREATE TABLE `"+table+"`").Row().Scan(&name, &ddl); err != nil {
			t.Fatal(err)
		}
		return []string{ddl}
	}
	if err := db.Raw("SELECT sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL ORDER BY type DESC, name", table).
		Scan(&out).Error; err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("no table %s", table)
	}
	return out
}
