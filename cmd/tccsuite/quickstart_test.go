package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestQuickStart does what the README tells a newcomer: it builds and starts the quick
// start, runs the README's curl example, checks the answer, and stops it with Ctrl-C
// (SIGINT), expecting a clean exit. Ports are moved off the defaults so that the test
// never collides with a suite running on the machine.
func TestQuickStart(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses SIGINT and sh")
	}
	curlCmd := readmeCurl(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "tccsuite")
	//nolint:gosec // G204: go build of this package into the test's directory
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ports := map[string]string{}
	for _, k := range []string{"TCC_COORDINATOR_ADDR", "ORDER_ADDR", "INVENTORY_ADDR", "PAYMENT_ADDR", "TCC_ETCD_CLIENT_ADDR", "TCC_ETCD_PEER_ADDR"} {
		ports[k] = freeAddr(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin) //nolint:gosec // G204: the binary just built
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TCC_DATA_DIR="+filepath.Join(dir, "data"))
	for k, v := range ports {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	var banner []string
	for ready := false; !ready; {
		line, ok := <-lines
		if !ok {
			t.Fatalf("the quick start exited before it was ready: %v\n%s", <-exited, strings.Join(banner, "\n"))
		}
		banner = append(banner, line)
		ready = line == "ready"
	}
	if !strings.Contains(strings.Join(banner, "\n"), "curl") {
		t.Fatalf("the banner prints no curl:\n%s", strings.Join(banner, "\n"))
	}

	// The README's example, pointed at this run's order port.
	curlCmd = strings.ReplaceAll(curlCmd, "localhost:8080", ports["ORDER_ADDR"])
	for i := 0; i < 2; i++ { // twice: the Idempotency-Key makes the second a replay
		//nolint:gosec // G204: the README's own curl block is what the test runs
		out, err := exec.CommandContext(ctx, "sh", "-c", curlCmd).Output()
		if err != nil {
			t.Fatalf("curl: %v", err)
		}
		var ans struct {
			OrderID string `json:"order_id"`
			XID     string `json:"xid"`
			Status  string `json:"status"`
			Amount  int64  `json:"amount"`
		}
		if err := json.Unmarshal(out, &ans); err != nil || ans.Status != "CONFIRMED" || ans.OrderID == "" || ans.XID == "" || ans.Amount != 2*1999 {
			t.Fatalf("answer %d: %s (%v)", i, out, err)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for range lines {
	}
	if err := <-exited; err != nil {
		t.Fatalf("exit after Ctrl-C: %v", err)
	}
}

// readmeCurl returns the shell command in the README block marked quickstart-curl.
func readmeCurl(t *testing.T) string {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- quickstart-curl -->\\s*```sh\\n(.*?)```").FindSubmatch(raw)
	if m == nil {
		t.Fatal("README.md has no <!-- quickstart-curl --> sh block")
	}
	return strings.ReplaceAll(string(m[1]), "\\\n", " ")
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprint(ln.Addr())
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}
