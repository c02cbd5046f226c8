package main

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	coordinator "github.com/tccsuite/tccsuite/coordinator/app"
	"github.com/tccsuite/tccsuite/internal/conf"
)

const root = "../../.."

// TestReadmesMatchTheConfigs fails when a README's configuration table differs from the
// configuration struct's tags: a variable added, renamed or given another default
// without the README, or a table edited by hand.
func TestReadmesMatchTheConfigs(t *testing.T) {
	docs, err := render(root)
	if err != nil {
		t.Fatal(err)
	}
	for path, d := range docs {
		if string(d.now) != string(d.want) {
			t.Errorf("%s differs from the configuration structs: run go generate ./internal/conf/confdocs\n%s", path, firstDiff(string(d.now), string(d.want)))
		}
	}
}

// firstDiff shows the first line where want differs from got.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] {
			return "line " + strconv.Itoa(i+1) + ":\n have " + g[i] + "\n want " + w[i]
		}
	}
	return "the lengths differ"
}

// TestRootReadmeNamesRealVariables: the short table of README.md is written by hand; each
// variable it names must be one a binary reads.
func TestRootReadmeNamesRealVariables(t *testing.T) {
	raw, err := os.ReadFile(root + "/README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	start := strings.Index(text, "## Configuration")
	if start < 0 {
		t.Fatal("README.md has no Configuration section")
	}
	text = text[start:]
	if end := strings.Index(text[3:], "\n## "); end >= 0 {
		text = text[:end+3]
	}
	known := map[string]bool{}
	for _, cfg := range []any{coordinator.Config{}, services[0].cfg, services[1].cfg, services[2].cfg} {
		fs, err := conf.Fields(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			known[f.Key] = true
		}
	}
	names := regexp.MustCompile("`((?:<S>_)?[A-Z][A-Z0-9]*_[A-Z0-9_]+)").FindAllStringSubmatch(text, -1)
	if len(names) == 0 {
		t.Fatal("found no variable in README.md's Configuration section")
	}
	for _, m := range names {
		keys := []string{m[1]}
		if rest, ok := strings.CutPrefix(m[1], "<S>_"); ok {
			keys = nil
			for _, s := range services {
				keys = append(keys, s.prefix+rest)
			}
		}
		for _, k := range keys {
			if !known[k] {
				t.Errorf("README.md names %s, which no binary reads", k)
			}
		}
	}
}
