package harness

import (
	"database/sql"
	"io"
	"net"
	"testing"
	"time"

	"github.com/tccsuite/tccsuite/internal/tcpproxy"
)

// TestTCPProxyCut checks the partition proxy: bytes flow, Cut resets the open
// connection and refuses new ones, Restore lets new connections through again.
func TestTCPProxyCut(t *testing.T) {
	ctx := t.Context()
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); _ = c.Close() }()
		}
	}()
	px, err := tcpproxy.New(ctx, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(px.Close)
	var dialer net.Dialer
	dial := func() (net.Conn, error) { return dialer.DialContext(ctx, "tcp", px.Addr()) }
	echo := func(c net.Conn) error {
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write([]byte("ping")); err != nil {
			return err
		}
		b := make([]byte, 4)
		_, err := io.ReadFull(c, b)
		return err
	}
	c, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := echo(c); err != nil {
		t.Fatalf("before the cut: %v", err)
	}
	px.Cut()
	if err := echo(c); err == nil {
		t.Fatal("a connection open before the cut still carries bytes")
	}
	if c2, err := dial(); err == nil {
		t.Cleanup(func() { _ = c2.Close() })
		if echo(c2) == nil {
			t.Fatal("a new connection carries bytes during the cut")
		}
	}
	px.Restore()
	c3, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c3.Close() })
	if err := echo(c3); err != nil {
		t.Fatalf("after Restore: %v", err)
	}
}

// TestPrivateMariaDBSurvivesSIGKILL starts the private server, commits a row, kills the
// server with SIGKILL, restarts it on the same data directory and reads the row back.
func TestPrivateMariaDBSurvivesSIGKILL(t *testing.T) {
	if _, _, err := mariadbBinaries(); err != nil {
		t.Skip(err)
	}
	ctx := t.Context()
	m, err := startMariaDB(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer m.close()
	exec := func(q string) error {
		db, err := sql.Open("mysql", m.dsn())
		if err != nil {
			return err
		}
		defer func() { _ = db.Close() }()
		_, err = db.ExecContext(ctx, q)
		return err
	}
	for _, q := range []string{"CREATE DATABASE d", "CREATE TABLE d.t (v INT) ENGINE=InnoDB", "INSERT INTO d.t VALUES (42)"} {
		if err := exec(q); err != nil {
			t.Fatal(q, err)
		}
	}
	m.kill()
	if m.running() {
		t.Fatal("running after kill")
	}
	if err := exec("SELECT 1"); err == nil {
		t.Fatal("the server answers while killed")
	}
	if err := m.start(ctx); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("mysql", m.dsn())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	var v int
	if err := db.QueryRowContext(ctx, "SELECT v FROM d.t").Scan(&v); err != nil || v != 42 {
		t.Fatalf("after the restart: %d, %v", v, err)
	}
}

func TestBadAnswers(t *testing.T) {
	cases := []struct {
		answers map[string]int
		want    int
	}{
		{map[string]int{"201": 5, "409": 2, Answer503Retry: 3, AnswerTransport: 1, AnswerHungUp: 4}, 0},
		{map[string]int{"201": 5, "500": 1}, 1},
		{map[string]int{Answer503NoRetry: 2, "502": 1}, 2},
	}
	for _, tc := range cases {
		if got := BadAnswers(tc.answers); len(got) != tc.want {
			t.Errorf("BadAnswers(%v) = %v, want %d", tc.answers, got, tc.want)
		}
	}
}
