package tcc_test

import (
	"strings"
	"testing"

	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// TestValidID: IDs and action names are 1..64 characters of [A-Za-z0-9._:-], and never
// a dot segment ("." or ".."), which would climb a URL path such as /tcc/{action}/try.
func TestValidID(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"x", true},
		{"xid-1:b_2.3", true},
		{"...", true},
		{".a", true},
		{"a..", true},
		{strings.Repeat("a", tcc.MaxIDLen), true},
		{"", false},
		{".", false},
		{"..", false},
		{strings.Repeat("a", tcc.MaxIDLen+1), false},
		{"a/b", false},
		{"../x", false},
		{"a b", false},
		{"a%2e", false},
		{"é", false},
	} {
		if got := tcc.ValidID(tc.id); got != tc.want {
			t.Errorf("ValidID(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}
