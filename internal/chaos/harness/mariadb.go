package harness

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
)

// mariadbServer is a MariaDB server of the run's own: its data directory under the run's
// WorkDir, its own loopback port, the machine's mariadbd binary. It exists so that the
// harness can SIGKILL the database under load without touching the machine's server
// (which other tests use) and restart it on the same data directory.
//
// Guarantees: a commit acknowledged before a SIGKILL survives it
// (innodb_flush_log_at_trx_commit=1, doublewrite on, no binlog to disagree with);
// start returns only once the server accepts a query as root with an empty password
// over TCP; kill returns only once the process is gone.
type mariadbServer struct {
	dir    string // data directory
	port   int
	socket string // kept short: a Unix socket path is limited to 107 bytes
	logf   string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited <-chan struct{}
	gen    int
}

// mariadbBinaries finds mariadbd and the install script.
func mariadbBinaries() (server, install string, err error) {
	for _, p := range []string{"/usr/sbin/mariadbd", "/usr/sbin/mysqld", "/usr/libexec/mariadbd"} {
		if _, err := os.Stat(p); err == nil {
			server = p
			break
		}
	}
	if server == "" {
		if p, err := exec.LookPath("mariadbd"); err == nil {
			server = p
		}
	}
	for _, name := range []string{"mariadb-install-db", "mysql_install_db"} {
		if p, err := exec.LookPath(name); err == nil {
			install = p
			break
		}
	}
	if server == "" || install == "" {
		return "", "", errors.New("harness: a private MariaDB needs mariadbd and mariadb-install-db (apt-get install mariadb-server)")
	}
	return server, install, nil
}

// startMariaDB initialises a data directory under workDir and starts the server.
func startMariaDB(ctx context.Context, workDir string) (*mariadbServer, error) {
	_, install, err := mariadbBinaries()
	if err != nil {
		return nil, err
	}
	addr, err := freePort(ctx)
	if err != nil {
		return nil, err
	}
	_, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portStr)
	m := &mariadbServer{
		dir:    filepath.Join(workDir, "mariadb", "data"),
		port:   port,
		socket: filepath.Join(os.TempDir(), fmt.Sprintf("tccchaos-mdb-%d.sock", port)),
		logf:   filepath.Join(workDir, "mariadb.log"),
	}
	if err := os.MkdirAll(m.dir, 0o750); err != nil {
		return nil, err
	}
	args := append([]string{"--no-defaults", "--datadir=" + m.dir, "--auth-root-authentication-method=normal",
		"--skip-test-db", "--skip-name-resolve"}, m.tuning()...)
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	//nolint:gosec // G204: the machine's install script, found by mariadbBinaries, on the run's own data directory
	cmd := exec.CommandContext(ctx, install, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("harness: %s: %w\n%s", filepath.Base(install), err, out)
	}
	if err := m.start(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// tuning are the options that make the server start in a fraction of a second and keep
// every acknowledged commit across a SIGKILL.
func (m *mariadbServer) tuning() []string {
	return []string{
		"--innodb-buffer-pool-size=64M",
		"--innodb-log-file-size=16M",
		"--innodb-flush-log-at-trx-commit=1",
		"--innodb-doublewrite=1",
		"--skip-log-bin",
		"--skip-performance-schema",
	}
}

// dsn is the server DSN (no database) the components use.
func (m *mariadbServer) dsn() string {
	c := mysqldrv.NewConfig()
	c.User = "root"
	c.Net = "tcp"
	c.Addr = fmt.Sprintf("127.0.0.1:%d", m.port)
	c.ParseTime = true
	return c.FormatDSN()
}

// start launches the server on its data directory and waits (bounded) until it answers.
func (m *mariadbServer) start(ctx context.Context) error {
	server, _, err := mariadbBinaries()
	if err != nil {
		return err
	}
	m.mu.Lock()
	if m.cmd != nil {
		select {
		case <-m.exited:
		default:
			m.mu.Unlock()
			return nil // already running
		}
	}
	m.gen++
	args := append([]string{"--no-defaults", "--datadir=" + m.dir, "--port=" + strconv.Itoa(m.port),
		"--bind-address=127.0.0.1", "--socket=" + m.socket, "--pid-file=" + filepath.Join(m.dir, "mariadbd.pid"),
		"--skip-name-resolve", "--max-connections=2000", "--log-error=" + m.logf + ".err"}, m.tuning()...)
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	// G204: the machine's mariadbd, found by mariadbBinaries, on the run's own data
	// directory. noctx: the server outlives ctx, which bounds the readiness wait; kill
	// and close end it.
	cmd := exec.Command(server, args...) //nolint:gosec,noctx // see above
	exited, err := launch(cmd, m.logf, fmt.Sprintf("mariadb generation %d", m.gen))
	if err != nil {
		m.mu.Unlock()
		return fmt.Errorf("harness: start mariadbd: %w", err)
	}
	m.cmd, m.exited = cmd, exited
	m.mu.Unlock()
	return m.waitReady(ctx, exited, time.Minute)
}

// waitReady pings the server until it answers, the process exits or the timeout passes.
func (m *mariadbServer) waitReady(ctx context.Context, exited <-chan struct{}, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if db, err := sql.Open("mysql", m.dsn()+"&timeout=1s"); err == nil {
			last = db.PingContext(ctx)
			_ = db.Close()
			if last == nil {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("harness: mariadbd exited before it was ready (see %s.err)", m.logf)
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("harness: mariadbd not ready: %w (last ping: %w)", ctx.Err(), last)
			}
			return fmt.Errorf("harness: mariadbd not ready: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// kill SIGKILLs the server and waits until the process is gone.
func (m *mariadbServer) kill() {
	m.mu.Lock()
	cmd, exited := m.cmd, m.exited
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-exited
}

func (m *mariadbServer) running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.exited == nil {
		return false
	}
	select {
	case <-m.exited:
		return false
	default:
		return true
	}
}

// close kills the server for good and removes its socket; the data stays for post-mortems.
func (m *mariadbServer) close() {
	m.kill()
	_ = os.Remove(m.socket)
	_ = os.Remove(m.socket + ".lock")
}

// crashDB SIGKILLs the run's private MariaDB, keeps it down for about DBDowntime and
// restarts it on the same data directory. One at a time.
func (r *chaosRun) crashDB(ctx context.Context) {
	r.dbMu.Lock()
	defer r.dbMu.Unlock()
	r.db.kill()
	r.dbCrashes.Add(1)
	r.cfg.Log.Info("chaos: database killed")
	down := r.cfg.DBDowntime
	if !r.cfg.DBDowntimeExact {
		down = r.jitter(down)
	}
	r.pause(ctx, down)
	if err := r.db.start(context.WithoutCancel(ctx)); err != nil {
		r.cfg.Log.Error("chaos: database restart failed", "err", err)
		r.harnessErr(err)
		return
	}
	r.cfg.Log.Info("chaos: database restarted")
}
