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

// TestDockerfileBuildsStaticBinaries runs the build stage's commands here: CGO off, every
// package the Dockerfile builds must compile into a statically linked binary.
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
	if len(pkgs) < 5 {
		t.Fatalf("could not find the build loop's packages in the Dockerfile (got %v)", pkgs)
	}
	out := t.TempDir()
	for _, p := range pkgs {
		bin := filepath.Join(out, filepath.Base(p))
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./"+p)
		cmd.Dir = "../.."
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
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
		f.Close()
	}
}
