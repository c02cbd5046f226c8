package conf

import (
	"strings"
	"testing"
)

func TestTable(t *testing.T) {
	got := Table([]Field{
		{Key: "A", Default: "1s", Desc: "the key’s wait; 'x|y' is code"},
		{Key: "B", DocDefault: "'A'", Desc: "b"},
		{Key: "C", Desc: "c"},
	})
	want := "| variable | default | meaning |\n| --- | --- | --- |\n" +
		"| `A` | `1s` | the key's wait; `x\\|y` is code |\n" +
		"| `B` | `A` | b |\n" +
		"| `C` | — | c |\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestReplaceSection(t *testing.T) {
	const doc = "intro\n<!-- config:x begin -->\nold\n<!-- config:x end -->\nrest\n"
	got, err := ReplaceSection(doc, "x", "new\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := "intro\n<!-- config:x begin -->\n\nnew\n\n<!-- config:x end -->\nrest\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	again, err := ReplaceSection(got, "x", "new\n")
	if err != nil || again != got {
		t.Errorf("not idempotent: %q, %v", again, err)
	}
	for name, bad := range map[string]string{
		"no markers":   "text",
		"no end":       "<!-- config:x begin -->\n",
		"twice":        strings.Repeat(doc, 2),
		"out of order": "<!-- config:x end -->\n<!-- config:x begin -->\n",
	} {
		if _, err := ReplaceSection(bad, "x", "new\n"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
