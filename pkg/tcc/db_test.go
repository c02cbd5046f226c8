package tcc_test

import (
	"testing"

	"github.com/glebarez/sqlite"
	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/pkg/tcc/internal/testenv"
)

// sqliteDB opens a fresh SQLite database for one test. The SQLite engine is imported
// here, by a test file, so that it never enters the SDK's own import graph.
func sqliteDB(t testing.TB) *gorm.DB { return testenv.SQLite(t, sqlite.Open) }

// databases returns an opener of a fresh database of each kind the barrier supports, by
// name, for contract tests that must hold on all of them.
func databases() map[string]func(t *testing.T) *gorm.DB {
	return map[string]func(t *testing.T) *gorm.DB{
		"mysql":  func(t *testing.T) *gorm.DB { return testenv.MySQL(t, 0) },
		"sqlite": func(t *testing.T) *gorm.DB { return sqliteDB(t) },
	}
}
