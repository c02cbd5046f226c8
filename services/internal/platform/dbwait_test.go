package platform

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/tccsuite/tccsuite/internal/testenv"
)

// signalHandler is an slog handler that closes seen the first time a record's message
// contains want.
type signalHandler struct {
	want string
	once *sync.Once
	seen chan struct{}
}

func (h signalHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h signalHandler) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, h.want) {
		h.once.Do(func() { close(h.seen) })
	}
	return nil
}
func (h signalHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h signalHandler) WithGroup(string) slog.Handler      { return h }

// TestRunWaitsForTheDatabase: a service started while its database is unreachable does
// not exit: it logs that it waits, and comes up by itself once the database answers.
func TestRunWaitsForTheDatabase(t *testing.T) {
	cfg, err := mysqldrv.ParseDSN(testenv.NewMySQLDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.NewProxy(t, cfg.Addr)
	cfg.Addr = proxy.Addr()
	proxy.Cut()

	c := toyCommon(t)
	c.SQLitePath, c.MySQLDSN, c.DBConnectWait = "", cfg.FormatDSN(), time.Minute
	y := &toy{}
	s := y.service(c, "ship", nil)
	s.Listener = listen(t)
	waiting := signalHandler{want: "database unreachable; waiting", once: &sync.Once{}, seen: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, slog.New(waiting), s) }()

	select {
	case <-waiting.seen:
	case err := <-done:
		t.Fatalf("Run returned while the database was unreachable: %v", err)
	}
	proxy.Restore()
	select {
	case <-y.jobStarted: // the service is up: database opened, migrated, jobs started
	case err := <-done:
		t.Fatalf("Run returned after the database came back: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
