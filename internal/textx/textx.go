// Package textx holds the suite's small text helpers.
package textx

import "unicode/utf8"

// Truncate cuts s to at most n bytes without splitting a UTF-8 sequence (the cut moves
// back to the start of the rune it would split). Strings of n bytes or fewer are
// returned as they are; n <= 0 gives "".
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
