package tcc_test

import (
	"testing"

	"github.com/tccsuite/tccsuite/pkg/tcc/internal/testenv"
)

// TestMain fails the package if goroutines outlive the tests (testenv.Main).
func TestMain(m *testing.M) { testenv.Main(m) }
