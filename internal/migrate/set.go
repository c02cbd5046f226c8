// Package migrate applies a component's versioned schema migrations with goose
// (github.com/pressly/goose/v3): SQL files embedded in the component's binary, one
// directory per dialect (mysql/ for MySQL and MariaDB, sqlite/ for SQLite), numbered
// NNNNN_subject.sql, each version present in both directories. A released file never
// changes: a schema change is a new version.
//
// Up is what a component runs at start and what its "migrate up" subcommand runs; Status
// lists the versions. Both are safe while other processes run them on the same database:
// on MySQL the work is serialised by a named lock (GET_LOCK) held by the migrating
// connection. SQLite databases are the single-process quick start's and take no lock.
package migrate

import (
	"context"
	"fmt"
	"io/fs"
	"regexp"

	"github.com/pressly/goose/v3"
	"gorm.io/gorm"
)

// Set is one component's versioned schema.
type Set struct {
	// Component names the schema ("order"): its history is recorded in the table
	// goose_db_version_<Component>, so that components sharing a database keep separate
	// histories. 1 to 24 characters of [a-z0-9_], starting with a letter.
	Component string
	// FS holds the migrations: mysql/ and sqlite/, each with goose SQL files.
	FS fs.FS
	// Baseline, if set, tells the version a database made before versioned migrations is
	// at (its tables exist, it has no history yet): those versions are recorded as applied
	// without running. 0 lets every version run, which suits a version whose DDL is
	// idempotent (CREATE TABLE IF NOT EXISTS). It is called once per database, under the
	// migration lock, with db bound to the locked connection.
	Baseline func(ctx context.Context, db *gorm.DB) (int64, error)
}

var componentRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,23}$`)

// Table is the name of the table recording s's history.
func (s Set) Table() string { return "goose_db_version_" + s.Component }

func (s Set) validate() error {
	if !componentRE.MatchString(s.Component) {
		return fmt.Errorf("migrate: bad component name %q", s.Component)
	}
	if s.FS == nil {
		return fmt.Errorf("migrate: %s: no migrations", s.Component)
	}
	return nil
}

// dialect is where a database kind's migrations are and how goose speaks to it.
type dialect struct {
	dir   string
	goose goose.Dialect
}

// dialectOf maps a gorm dialect to its migrations: the one place that knows the kinds of
// database the suite supports.
func dialectOf(db *gorm.DB) (dialect, error) {
	switch n := db.Name(); n {
	case "mysql":
		return dialect{dir: "mysql", goose: goose.DialectMySQL}, nil
	case "sqlite":
		return dialect{dir: "sqlite", goose: goose.DialectSQLite3}, nil
	default:
		return dialect{}, fmt.Errorf("migrate: unsupported database %q (MySQL, MariaDB or SQLite)", n)
	}
}

// Supported returns an error if db is of a kind the suite has no migrations for.
func Supported(db *gorm.DB) error {
	_, err := dialectOf(db)
	return err
}

// Sub returns the subtree dir of fsys, for a Set's FS from an embedded directory; it
// panics if dir is not a valid path (a mistake in the program, found at start).
func Sub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(fmt.Sprintf("migrate: %v", err))
	}
	return sub
}
