package registry

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestTruncate: a participant's message is cut to n bytes on a rune boundary, never in
// the middle of a character.
func TestTruncate(t *testing.T) {
	cases := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"abcdef", 3, "abc"},
		{"ab€", 3, "ab"},  // € is 3 bytes: cutting at 3 would split it
		{"ab€", 5, "ab€"}, // exactly fits
		{"€€", 4, "€"},
		{strings.Repeat("é", 10), 5, "éé"},
	}
	for _, tc := range cases {
		got := truncate(tc.in, tc.n)
		if got != tc.want || !utf8.ValidString(got) || len(got) > tc.n {
			t.Errorf("truncate(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
