// Package image_test checks the Dockerfile without a Docker engine: pinned base images,
// a non-root user, one target per component, and that the build commands it runs
// produce static binaries from this tree.
package image_test

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

type stage struct {
	name, from string
	lines      []string
}

func parse(t *testing.T) []stage {
	t.Helper()
	raw, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	// Join continuation lines.
	text := strings.ReplaceAll(string(raw), "\\\n", " ")
	var stages []stage
	fromRE := regexp.MustCompile(`(?i)^FROM\s+(\S+)(?:\s+AS\s+(\S+))?`)
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if m := fromRE.FindStringSubmatch(line); m != nil {
			stages = append(stages, stage{name: m[2], from: m[1]})
			continue
		}
		if len(stages) == 0 {
			t.Fatalf("instruction before FROM: %s", line)
		}
		stages[len(stages)-1].lines = append(stages[len(stages)-1].lines, line)
	}
	return stages
}

func TestDockerfile(t *testing.T) {
	stages := parse(t)
	names := map[string]stage{}
	for _, s := range stages {
		names[s.name] = s
	}
	for _, s := range stages {
		if _, internal := names[s.from]; internal {
			continue
		}
		i := strings.LastIndex(s.from, ":")
		if i < strings.LastIndex(s.from, "/") || i < 0 || strings.HasSuffix(s.from, ":latest") {
			t.Errorf("stage %s: base image %q is not pinned to a tag", s.name, s.from)
		}
	}
	// Every component has a target, built FROM the non-root runtime, with an entrypoint.
	for _, c := range []string{"coordinator", "order", "inventory", "payment", "quickstart"} {
		s, ok := names[c]
		if !ok {
			t.Errorf("no %s target", c)
			continue
		}
		if s.from != "runtime" {
			t.Errorf("target %s is FROM %s, want the runtime stage", c, s.from)
		}
		if !slices.ContainsFunc(s.lines, func(l string) bool { return strings.HasPrefix(l, "ENTRYPOINT") }) {
			t.Errorf("target %s has no ENTRYPOINT", c)
		}
	}
	rt := names["runtime"]
	if !slices.ContainsFunc(rt.lines, func(l string) bool { return l == "USER 65532:65532" }) {
		t.Error("the runtime stage must run as the non-root user 65532")
	}
	if !strings.Contains(rt.from, "distroless") {
		t.Errorf("the runtime stage is %s; want a minimal distroless image", rt.from)
	}
}

// buildEnv is the environment the build stage sets with ENV (KEY=VALUE forms).
func buildEnv(t *testing.T, stages []stage) []string {
	t.Helper()
	var env []string
	for _, s := range stages {
		if s.name != "build" {
			continue
		}
		for _, l := range s.lines {
			if f := strings.Fields(l); len(f) > 1 && strings.EqualFold(f[0], "ENV") {
				for _, kv := range f[1:] {
					if !strings.Contains(kv, "=") {
						t.Fatalf("ENV %q: use the KEY=VALUE form", l)
					}
					env = append(env, kv)
				}
			}
		}
	}
	return env
}

// TestDockerfileCopiesEveryModule: the build stage downloads the dependencies from the
// go.mod and go.sum files alone (a cached layer), so it must copy those of every module
// in the tree before `go mod download`: the root's replace directive points at the SDK
// module in pkg/tcc, and without its go.mod the download fails. The build must not depend
// on the development go.work either.
func TestDockerfileCopiesEveryModule(t *testing.T) {
	stages := parse(t)
	var copied []string
	downloaded := false
	for _, s := range stages {
		if s.name != "build" {
			continue
		}
		for _, l := range s.lines {
			f := strings.Fields(l)
			switch {
			case len(f) > 2 && strings.EqualFold(f[0], "COPY") && !downloaded:
				copied = append(copied, f[1:len(f)-1]...)
			case strings.Contains(l, "go mod download"):
				downloaded = true
			}
		}
	}
	if !downloaded {
		t.Fatal("the build stage never runs go mod download")
	}
	if !slices.Contains(buildEnv(t, stages), "GOWORK=off") {
		t.Error("the build stage must set GOWORK=off: images build from go.mod, not the development go.work")
	}
	root := "../.."
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "bin" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || d.Name() != "go.mod" {
			return nil
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		for _, f := range []string{"go.mod", "go.sum"} {
			want := filepath.ToSlash(filepath.Join(rel, f))
			if !slices.Contains(copied, want) {
				t.Errorf("the build stage does not copy %s before go mod download (copied first: %v)", want, copied)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDockerfileBuildsStaticBinaries runs the build stage's commands here, in its
// environment (ENV: CGO off, GOWORK=off): every package the Dockerfile builds must
// compile into a statically linked binary.
func TestDockerfileBuildsStaticBinaries(t *testing.T) {
	stages := parse(t)
	var pkgs []string
	for _, s := range stages {
		for _, l := range s.lines {
			if m := regexp.MustCompile(`for c in ([^;]+);`).FindStringSubmatch(l); m != nil {
				pkgs = strings.Fields(m[1])
			}
		}
	}
	env := buildEnv(t, stages)
	if !slices.Contains(env, "CGO_ENABLED=0") {
		t.Error("the build stage must set CGO_ENABLED=0")
	}
	if len(pkgs) < 5 {
		t.Fatalf("could not find the build loop's packages in the Dockerfile (got %v)", pkgs)
	}
	out := t.TempDir()
	for _, p := range pkgs {
		bin := filepath.Join(out, filepath.Base(p))
		//nolint:gosec // G204: go build of a package path the Dockerfile names, in a test
		cmd := exec.CommandContext(t.Context(), "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./"+p)
		cmd.Dir = "../.."
		cmd.Env = append(os.Environ(), env...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", p, err, b)
		}
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				t.Errorf("%s is dynamically linked", p)
			}
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
