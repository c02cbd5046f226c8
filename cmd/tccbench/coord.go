package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"

	coordinator "github.com/tccsuite/tccsuite/coordinator/app"
	"github.com/tccsuite/tccsuite/internal/dbx"
	"github.com/tccsuite/tccsuite/internal/etcdx"
)

// coordBench measures the coordinator alone: it starts, in this process, an embedded
// etcd, a coordinator on the given MySQL server (a fresh database, dropped afterwards)
// and three no-op participants, then drives POST /v1/transactions with three branches at
// the chosen concurrency. Network, HTTP, JSON, signing, the two durable commits and the
// asynchronous result writes are all real; only the participants' business work is
// absent.
func coordBench(ctx context.Context, cfg config, out io.Writer) (report, error) {
	rep := report{Mode: "coordinator", Wait: cfg.wait, Concurrency: cfg.concurrency, Branches: cfg.branches}
	dsn, drop, err := benchDatabase(ctx, cfg.mysql)
	if err != nil {
		return rep, err
	}
	defer drop()
	dir, err := os.MkdirTemp("", "tccbench-etcd-")
	if err != nil {
		return rep, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	etcd, err := etcdx.StartEmbedded(ctx, etcdx.EmbedConfig{Dir: filepath.Join(dir, "etcd"), ClientAddr: "127.0.0.1:0", PeerAddr: "127.0.0.1:0"})
	if err != nil {
		return rep, err
	}
	defer etcd.Close()

	// The no-op participants answer every phase 200 at once.
	var parts []string
	for i := 1; i <= cfg.branches; i++ {
		ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
		if err != nil {
			return rep, err
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"outcome":"applied"}`))
		}), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer func() { _ = srv.Close() }()
		parts = append(parts, fmt.Sprintf("noop%d=http://%s", i, ln.Addr()))
	}

	addrLn, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return rep, err
	}
	addr := addrLn.Addr().String()
	if err := addrLn.Close(); err != nil {
		return rep, err
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	env := map[string]string{
		"TCC_COORDINATOR_ADDR": addr,
		"TCC_MYSQL_DSN":        dsn,
		"TCC_ETCD_ENDPOINTS":   etcd.Endpoint(),
		"TCC_INSTANCE_ID":      "tccbench",
		"TCC_HMAC_KEY":         hex.EncodeToString(key),
		"TCC_PARTICIPANTS":     strings.Join(parts, ","),
		"TCC_DB_MAX_CONNS":     "64",
	}
	ccfg, err := coordinator.ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		return rep, err
	}
	cctx, stopCoord := context.WithCancel(context.Background())
	coordDone := make(chan error, 1)
	go func() {
		coordDone <- coordinator.Run(cctx, ccfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		close(coordDone) // a second receive (after waitReady took the error) does not block
	}()
	defer func() {
		stopCoord()
		for range coordDone { // until it has returned; stopped on purpose, its error says only that
		}
	}()
	c := newClient(cfg.concurrency)
	base := "http://" + addr
	if err := waitReady(ctx, c, base+"/readyz", coordDone); err != nil {
		return rep, err
	}

	var branches []string
	for i := 1; i <= cfg.branches; i++ {
		branches = append(branches, fmt.Sprintf(`{"participant":"noop%d","action":"noop","payload":{"n":%d}}`, i, i))
	}
	body := []byte(fmt.Sprintf(`{"branches":[%s],"wait":%q,"timeout_ms":5000}`, strings.Join(branches, ","), cfg.wait))
	_, _ = fmt.Fprintf(out, "tccbench: coordinator, %d branches, wait %s, %d clients for %s on MySQL\n", cfg.branches, cfg.wait, cfg.concurrency, cfg.duration)

	// A short warm-up fills the connection pools.
	warm, cancelWarm := context.WithTimeout(ctx, min(cfg.duration/10, 2*time.Second))
	drive(warm, cfg.concurrency, func(context.Context, int64) (string, error) {
		var t struct{ Status string }
		_, err := c.do(ctx, "POST", base+"/v1/transactions", body, nil, &t)
		return t.Status, err
	})
	cancelWarm()

	rctx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	res := drive(rctx, cfg.concurrency, func(_ context.Context, _ int64) (string, error) {
		var t struct{ Status string }
		st, err := c.do(context.WithoutCancel(rctx), "POST", base+"/v1/transactions", body, nil, &t)
		if err != nil && st == 0 {
			return "transport error", err
		}
		return fmt.Sprintf("%d %s", st, t.Status), nil
	})
	want := "201 CONFIRMED"
	if cfg.wait == "decision" {
		want = "201 CONFIRMING"
	}
	rep.fill(res, func(kind string) bool { return kind == want || kind == "201 CONFIRMED" })
	return rep, nil
}

// drive runs concurrency workers calling one until ctx ends, and returns every result.
func drive(ctx context.Context, concurrency int, one func(context.Context, int64) (string, error)) results {
	var seq atomic.Int64
	per := make([][]result, concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for ctx.Err() == nil {
				t0 := time.Now()
				kind, _ := one(ctx, seq.Add(1))
				per[w] = append(per[w], result{kind, time.Since(t0)})
			}
		}(w)
	}
	wg.Wait()
	var all []result
	for _, rs := range per {
		all = append(all, rs...)
	}
	return results{all: all, elapsed: time.Since(start)}
}

// waitReady polls url until it answers 200, the coordinator stops (died), ctx ends,
// or a minute passes.
func waitReady(ctx context.Context, c *client, url string, died <-chan error) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		if st, err := c.do(ctx, "GET", url, nil, nil, nil); err == nil && st == 200 {
			return nil
		}
		select {
		case err := <-died:
			return fmt.Errorf("the coordinator stopped: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after 60s", url)
		}
	}
}

// benchDatabase creates a fresh database on the server of serverDSN and returns its DSN
// and a func that drops it.
func benchDatabase(ctx context.Context, serverDSN string) (string, func(), error) {
	c, err := mysqldrv.ParseDSN(serverDSN)
	if err != nil {
		return "", func() {}, fmt.Errorf("bad -mysql DSN: %w", err)
	}
	c.DBName = fmt.Sprintf("tccbench_%d", time.Now().UnixNano())
	dsn := c.FormatDSN()
	if err := dbx.CreateMySQLDatabase(ctx, dsn); err != nil {
		return "", func() {}, err
	}
	drop := func() {
		admin := *c
		admin.DBName = ""
		db, err := dbx.Open(context.Background(), dbx.Config{MySQLDSN: admin.FormatDSN(), MaxOpenConns: 1})
		if err != nil {
			return
		}
		defer func() { _ = dbx.Close(db) }()
		_ = db.Exec("DROP DATABASE IF EXISTS `" + c.DBName + "`").Error
	}
	return dsn, drop, nil
}
