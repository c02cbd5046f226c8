package app

import (
	"testing"

	"github.com/tccsuite/tccsuite/internal/testenv"
)

// TestMain fails the package if goroutines outlive the tests (testenv.Main).
func TestMain(m *testing.M) { testenv.Main(m) }
