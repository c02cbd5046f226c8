package tcc_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// forbidden says which packages must never enter the SDK's import graph, and why: a
// service that imports the participant SDK must not link a database engine, an etcd
// server, Kubernetes or a compose library, nor anything of the suite itself.
var forbidden = []struct {
	prefix, why string
}{
	{"modernc.org/sqlite", "an SQLite engine"},
	{"modernc.org/libc", "the SQLite engine's C runtime"},
	{"github.com/glebarez/", "an SQLite engine"},
	{"github.com/mattn/go-sqlite3", "an SQLite engine"},
	{"go.etcd.io/etcd/server", "an etcd server"},
	{"k8s.io/", "Kubernetes"},
	{"sigs.k8s.io/", "Kubernetes"},
	{"github.com/compose-spec/", "a compose library"},
	{"github.com/tccsuite/tccsuite/", "the suite (the SDK is its own module)"},
}

// forbiddenWhy returns why pkg is forbidden, or "".
func forbiddenWhy(pkg string) string {
	if pkg == sdkModule || strings.HasPrefix(pkg, sdkModule+"/") {
		return ""
	}
	for _, f := range forbidden {
		if pkg == strings.TrimSuffix(f.prefix, "/") || strings.HasPrefix(pkg, strings.TrimSuffix(f.prefix, "/")+"/") {
			return f.why
		}
	}
	return ""
}

const sdkModule = "github.com/tccsuite/tccsuite/pkg/tcc"

// violations walks the import graph (package -> its imports) from roots, breadth first,
// and returns one line per forbidden package reached, with the shortest import path to
// it from a root: "modernc.org/sqlite (an SQLite engine): a -> b -> modernc.org/sqlite".
// A forbidden package's own imports are not walked: the first one reached is the culprit.
func violations(graph map[string][]string, roots []string) []string {
	via := map[string]string{}
	seen := map[string]bool{}
	queue := slices.Clone(roots)
	for _, r := range roots {
		seen[r] = true
	}
	var out []string
	for len(queue) > 0 {
		pkg := queue[0]
		queue = queue[1:]
		if why := forbiddenWhy(pkg); why != "" {
			chain := []string{pkg}
			for p := via[pkg]; p != ""; p = via[p] {
				chain = append(chain, p)
			}
			slices.Reverse(chain)
			out = append(out, pkg+" ("+why+"): "+strings.Join(chain, " -> "))
			continue
		}
		for _, imp := range graph[pkg] {
			if !seen[imp] {
				seen[imp] = true
				via[imp] = pkg
				queue = append(queue, imp)
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestViolationsNamesTheImportPath: the graph walk finds a forbidden package however deep,
// names the shortest chain to it, and lets allowed graphs pass.
func TestViolationsNamesTheImportPath(t *testing.T) {
	cases := []struct {
		name  string
		graph map[string][]string
		want  []string
	}{
		{"clean", map[string][]string{sdkModule: {"net/http", "gorm.io/gorm"}, "gorm.io/gorm": {"database/sql"}}, nil},
		{"deep engine", map[string][]string{
			sdkModule:                    {"example.com/a", "example.com/b"},
			"example.com/a":              {"example.com/b"},
			"example.com/b":              {"github.com/glebarez/sqlite"},
			"github.com/glebarez/sqlite": {"modernc.org/sqlite"},
		}, []string{"github.com/glebarez/sqlite (an SQLite engine): " + sdkModule + " -> example.com/b -> github.com/glebarez/sqlite"}},
		{"the suite", map[string][]string{sdkModule + "/dberr": {"github.com/tccsuite/tccsuite/internal/dbx"}},
			[]string{"github.com/tccsuite/tccsuite/internal/dbx (the suite (the SDK is its own module)): " + sdkModule + "/dberr -> github.com/tccsuite/tccsuite/internal/dbx"}},
		{"prefix is not a path element", map[string][]string{sdkModule: {"k8s.iox/a", "modernc.org/sqlitex"}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			roots := make([]string, 0, len(tc.graph))
			for r := range tc.graph {
				if r == sdkModule || strings.HasPrefix(r, sdkModule+"/") {
					roots = append(roots, r)
				}
			}
			if got := violations(tc.graph, roots); !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestSDKImportsStayLight lists the import graph of every non-test package of this module
// (go list -deps ./..., outside any workspace) and fails, naming the import path, if a
// forbidden package entered it. Test-only imports (the SQLite driver the tests use) are
// not part of it.
func TestSDKImportsStayLight(t *testing.T) {
	// One line per package: its path, whether it belongs to this module, its imports.
	cmd := exec.CommandContext(t.Context(), "go", "list", "-deps", "-f",
		`{{.ImportPath}} {{if .Module}}{{.Module.Main}}{{else}}false{{end}}{{range .Imports}} {{.}}{{end}}`, "./...")
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	graph := map[string][]string{}
	var roots []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			t.Fatalf("unexpected go list line %q", sc.Text())
		}
		if f[1] == "true" {
			roots = append(roots, f[0])
		}
		graph[f[0]] = f[2:]
	}
	if !slices.Contains(roots, sdkModule) {
		t.Fatalf("go list found no package of this module (roots %q): is the test run from the module's directory?", roots)
	}
	for _, v := range violations(graph, roots) {
		t.Errorf("forbidden import: %s", v)
	}
}
