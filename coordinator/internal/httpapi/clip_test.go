package httpapi

import (
	"strings"
	"testing"
)

// TestClip: a long client string is cut to 64 bytes on a rune boundary, and anything
// not printable ASCII is quoted.
func TestClip(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"short", "inventory", "inventory"},
		{"long ASCII", strings.Repeat("a", 70), strings.Repeat("a", 64) + "..."},
		{"cut before a split rune", strings.Repeat("a", 63) + "€", strings.Repeat("a", 63) + "..."},
		{"control character", "a\nb", `"a\nb"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := clip(tc.in); got != tc.want {
				t.Fatalf("clip(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
