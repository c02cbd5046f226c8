package harness

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// BuildBinaries builds the suite's four binaries into dir with `go build`, from the module
// at root, and returns their paths by component name.
func BuildBinaries(ctx context.Context, root, dir string, race bool) (map[string]string, error) {
	pkgs := map[string]string{
		"coordinator": "./coordinator",
		"order":       "./services/order",
		"inventory":   "./services/inventory",
		"payment":     "./services/payment",
	}
	out := map[string]string{}
	for name, pkg := range pkgs {
		bin := filepath.Join(dir, name)
		args := []string{"build", "-o", bin}
		if race {
			args = append(args, "-race")
		}
		//nolint:gosec // G204: go build of the module's own packages into the caller's directory
		cmd := exec.CommandContext(ctx, "go", append(args, pkg)...)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("harness: build %s: %w\n%s", name, err, b)
		}
		out[name] = bin
	}
	return out, nil
}

// ModuleRoot finds the module's root directory with `go env GOMOD`.
func ModuleRoot(ctx context.Context) (string, error) {
	b, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("harness: go env GOMOD: %w", err)
	}
	mod := string(b)
	for len(mod) > 0 && (mod[len(mod)-1] == '\n' || mod[len(mod)-1] == '\r') {
		mod = mod[:len(mod)-1]
	}
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("harness: not inside the module")
	}
	return filepath.Dir(mod), nil
}

// freePort returns a loopback address with a port that was free a moment ago.
func freePort(ctx context.Context) (string, error) {
	l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

// proc is one running component process, restartable.
type proc struct {
	name    string
	bin     string
	addr    string // host:port it serves
	env     func(generation int) []string
	logPath string

	// held is set while the harness itself has the process down (a kill, a restart, a
	// supervisor restart), so that the supervisor leaves it alone.
	held atomic.Bool

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited <-chan struct{}
	gen    int
	ready  bool // the current generation answered /readyz
}

// wasReady reports whether the current (or last) generation ever became ready.
func (p *proc) wasReady() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ready
}

// started reports whether the process was ever started.
func (p *proc) started() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil
}

func (p *proc) url() string { return "http://" + p.addr }

// start launches the process (a new generation) and waits until /readyz answers 200.
func (p *proc) start(ctx context.Context, readyTimeout time.Duration) error {
	p.mu.Lock()
	p.gen++
	gen := p.gen
	// G204: the harness runs the binary it was given (built by BuildBinaries or named by
	// its caller). noctx: the process outlives ctx, which bounds the readiness wait; stop
	// and kill end it.
	cmd := exec.Command(p.bin) //nolint:gosec,noctx // see above
	cmd.Env = p.env(gen)
	exited, err := launch(cmd, p.logPath, fmt.Sprintf("%s generation %d", p.name, gen))
	if err != nil {
		p.mu.Unlock()
		return fmt.Errorf("harness: start %s: %w", p.name, err)
	}
	p.cmd, p.exited, p.ready = cmd, exited, false
	p.mu.Unlock()
	if err := waitReady(ctx, p.url()+"/readyz", exited, readyTimeout); err != nil {
		return err
	}
	p.mu.Lock()
	if p.gen == gen {
		p.ready = true
	}
	p.mu.Unlock()
	return nil
}

// launch starts cmd in a process group of its own (so that a signal reaches its
// children too), its output appended to logPath after a line naming what starts, and
// returns a channel closed once it has exited and its log is closed.
func launch(cmd *exec.Cmd, logPath, what string) (<-chan struct{}, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600) //nolint:gosec // G304: a log path under the run's WorkDir
	if err != nil {
		return nil, err
	}
	// The header only helps a reader of the log: a failed write shows in the output's own.
	_, _ = fmt.Fprintf(logf, "\n===== %s starting at %s =====\n", what, time.Now().Format(time.RFC3339Nano))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = logf.Close()
		close(exited)
	}()
	return exited, nil
}

// waitReady polls url until it answers 200, the process exits, or the timeout passes.
// Polling an observable state with a bounded deadline is how a supervisor waits for a
// process it cannot signal.
func waitReady(ctx context.Context, url string, exited <-chan struct{}, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := c.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("harness: %s: the process exited before it was ready", url)
		case <-ctx.Done():
			return fmt.Errorf("harness: %s not ready: %w", url, ctx.Err())
		case <-tick.C:
		}
	}
}

// signal sends sig and waits for the process to exit (SIGKILL after grace).
func (p *proc) signal(sig syscall.Signal, grace time.Duration) {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-exited:
		return
	default:
	}
	_ = syscall.Kill(-cmd.Process.Pid, sig)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-exited:
	case <-t.C:
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
}

func (p *proc) kill() { p.signal(syscall.SIGKILL, time.Minute) }
func (p *proc) stop() { p.signal(syscall.SIGTERM, 30*time.Second) }

func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}
