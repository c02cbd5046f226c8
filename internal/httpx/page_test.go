package httpx

import (
	"fmt"
	"testing"
)

func TestPage(t *testing.T) {
	key := func(i int) string { return fmt.Sprint(i) }
	for _, tc := range []struct {
		rows  []int
		limit int
		page  string
		next  string
	}{
		{nil, 3, "[]", ""},
		{[]int{1, 2}, 3, "[1 2]", ""},
		{[]int{1, 2, 3}, 3, "[1 2 3]", ""},
		{[]int{1, 2, 3, 4}, 3, "[1 2 3]", "3"},
	} {
		rows, next := Page(tc.rows, tc.limit, key)
		if fmt.Sprint(rows) != tc.page || next != tc.next {
			t.Errorf("Page(%v, %d) = %v, %q; want %s, %q", tc.rows, tc.limit, rows, next, tc.page, tc.next)
		}
	}
}
