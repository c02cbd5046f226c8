package engine_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/tccsuite/tccsuite/coordinator/internal/cluster"
	"github.com/tccsuite/tccsuite/coordinator/internal/engine"
	"github.com/tccsuite/tccsuite/coordinator/internal/engine/etcdmembership"
	"github.com/tccsuite/tccsuite/coordinator/internal/metrics"
	"github.com/tccsuite/tccsuite/coordinator/internal/registry"
	"github.com/tccsuite/tccsuite/coordinator/internal/store"
	"github.com/tccsuite/tccsuite/coordinator/internal/testpart"
	"github.com/tccsuite/tccsuite/internal/testenv"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// pausingStore runs beforeFirstPage once, right before the first page of a recovery
// scan is read: the test acts there, between the scan's start and its read.
type pausingStore struct {
	store.Store
	once            sync.Once
	beforeFirstPage func()
}

func (s *pausingStore) Unfinished(ctx context.Context, after string, limit int) ([]store.Header, error) {
	s.once.Do(s.beforeFirstPage)
	return s.Store.Unfinished(ctx, after, limit)
}

func member(t *testing.T, endpoint, name string) *cluster.Member {
	t.Helper()
	cfg := cluster.DefaultConfig()
	cfg.Endpoints, cfg.Instance, cfg.Advertise, cfg.TTL = []string{endpoint}, name, "127.0.0.1:1", 2*time.Second
	m, err := cluster.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(context.Background()) })
	return m
}

func start(t *testing.T, m *cluster.Member) *cluster.Epoch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ep, err := m.Epoch()
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

func trying(xid, owner string) *store.Transaction {
	return &store.Transaction{
		XID: xid, Status: tcc.TxTrying, Owner: owner, Deadline: time.Now().Add(time.Minute), TimeoutMS: 60000,
		Branches: []store.Branch{{BranchID: "1", Participant: "p", Action: "a", Payload: []byte(`{}`), Status: tcc.BranchRegistered}},
	}
}

// TestScanJudgesOwnersAfterReadingRows: an instance that joins while a recovery scan is
// under way, and writes a transaction the scan then reads, is live: the scan must not
// take its transaction over (it would cancel it under the live driver). A dead owner's
// transaction on the same page is taken over.
func TestScanJudgesOwnersAfterReadingRows(t *testing.T) {
	endpoint := testenv.Etcd(t)
	st, err := store.New(testenv.SQLite(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	p := testpart.New(t, "p")
	signer, err := tcc.NewSigner([]byte(testpart.Key))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(map[string]string{"p": p.URL()}, registry.Options{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	scanner := member(t, endpoint, "scanner")
	own := start(t, scanner)
	late := member(t, endpoint, "late")
	var lateOwner string
	if errs := st.Begin(ctx, []*store.Transaction{trying("00000000000000a1", "dead#1")}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	ps := &pausingStore{Store: st, beforeFirstPage: func() {
		lateOwner = start(t, late).Owner
		if errs := st.Begin(ctx, []*store.Transaction{trying("00000000000000a2", lateOwner)}); errs[0] != nil {
			t.Error(errs[0])
		}
	}}
	cfg := engine.DefaultConfig()
	cfg.ScanInterval = time.Hour
	e, err := engine.New(cfg, engine.Deps{
		Store: ps, Registry: reg, Membership: etcdmembership.New(scanner), Metrics: metrics.New(), Log: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(5 * time.Second)
	if err := e.Scan(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Get(ctx, "00000000000000a2"); err != nil || got.Owner != lateOwner || got.Status != tcc.TxTrying {
		t.Fatalf("the live late joiner's transaction was taken over: %+v %v", got, err)
	}
	got, err := st.Get(ctx, "00000000000000a1")
	if err != nil || got.Owner != own.Owner {
		t.Fatalf("the dead owner's transaction was not taken over: %+v %v", got, err)
	}
}
