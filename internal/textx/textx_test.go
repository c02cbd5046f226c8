package textx

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abc", 3, "abc"},
		{"abcdef", 3, "abc"},
		{"héllo", 2, "h"},  // 'é' is 2 bytes: cutting at 2 would split it
		{"héllo", 3, "hé"}, // ends right after 'é'
		{"日本語", 4, "日"},    // 3-byte runes
		{"日本語", 6, "日本"},
		{"abc", 0, ""},
		{"abc", -1, ""},
		{"", 3, ""},
		{"ab€", 3, "ab"}, // € is 3 bytes
		{"ab€", 5, "ab€"},
		{"€€", 4, "€"},
		{strings.Repeat("é", 10), 5, "éé"},
	} {
		got := Truncate(tc.in, tc.n)
		if got != tc.want || !utf8.ValidString(got) || len(got) > max(tc.n, 0) && len(tc.in) > tc.n {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
