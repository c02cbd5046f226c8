package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tccsuite/tccsuite/coordinator/internal/engine"
	"github.com/tccsuite/tccsuite/coordinator/internal/engine/enginetest"
	"github.com/tccsuite/tccsuite/coordinator/internal/metrics"
	"github.com/tccsuite/tccsuite/coordinator/internal/registry"
	"github.com/tccsuite/tccsuite/coordinator/internal/store"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// Config is one simulation run.
type Config struct {
	// Seed drives every random choice of the run.
	Seed uint64
	// Txs is the number of transactions of the workload (0: 60).
	Txs int
	// FaultFor is how long faults are injected, in simulated time (0: 20 s).
	FaultFor time.Duration
	// Broken, if set, wraps the shared database below the audit: the test's deliberately
	// broken variants (a store that ignores the owner fence).
	Broken func(raw *enginetest.Store) store.Store
	// Log, if set, receives the engines' logs (Debug and up).
	Log slog.Handler
}

// Violation is one broken invariant.
type Violation struct {
	Invariant string
	Detail    string
}

func (v Violation) String() string { return v.Invariant + ": " + v.Detail }

// Result is what a run found, and what it explored.
type Result struct {
	Violations []Violation
	Stats      Stats
	// Digest sums up the end state (every transaction's status and branches, and every
	// participant's counters): two runs of one seed that replay exactly have the same.
	Digest string
}

// Stats is what one run explored.
type Stats struct {
	Instances, Txs, Confirmed, Cancelled                  int
	Begins, BeginRetries, Replays                         int
	LeaseLosses, Partitions, Crashes, Restarts, Takeovers int
	Calls, LostRequests, LostAnswers, Duplicated, Delayed int
	Unavailable, StoreFailBefore, StoreLoseAnswer         int
	LateTries, Suspended, Expired, EmptyCompensations     int
	Duplicates, TryRefusals                               int
	StaleWrites                                           int
	SimTime                                               time.Duration
}

// instance is one coordinator process: a membership that outlives its crashes, and the
// engine of its current incarnation.
type instance struct {
	name string
	mem  *enginetest.Membership

	mu      sync.Mutex
	eng     *engine.Engine
	crashed *atomic.Bool
	closed  chan struct{} // closed once the crashed incarnation's engine has stopped
	gen     int
}

func (in *instance) engine() *engine.Engine {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.crashed.Load() {
		return nil
	}
	return in.eng
}

type world struct {
	cfg     Config
	raw     *enginetest.Store
	audit   *auditStore
	cluster *enginetest.Cluster
	net     *network
	parts   []*participant
	insts   []*instance
	faulty  atomic.Bool
	stores  storeStats
	smu     sync.Mutex
	start   time.Time

	mu        sync.Mutex
	stats     Stats
	answers   []clientAnswer
	problems  []Violation
	engineRNG *rand.Rand
}

type clientAnswer struct {
	key     string
	xid     string
	status  tcc.TxStatus
	reached bool
}

type txPlan struct {
	key      string
	at       time.Duration
	inst     int
	branches []tcc.BranchSpec
	amounts  map[string]int64
	timeout  time.Duration
	wait     string
	lockKeys []string
	rng      *rand.Rand // the client's own choices (its retries' spacing)
}

type instFault struct {
	at   time.Duration
	inst int
	kind string // "lease", "takeover", "partition", "crash"
	down time.Duration
}

// Run runs one simulation. It must run inside a testing/synctest bubble: it sleeps for
// minutes of simulated time.
func Run(cfg Config) *Result {
	if cfg.Txs == 0 {
		cfg.Txs = 60
	}
	if cfg.FaultFor == 0 {
		cfg.FaultFor = 20 * time.Second
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x51a1)) //nolint:gosec // a simulation's seeded choices
	w := &world{cfg: cfg, raw: enginetest.NewStore(), cluster: enginetest.NewCluster(), start: time.Now(),
		engineRNG: rand.New(rand.NewPCG(cfg.Seed, 0xe1)), //nolint:gosec // a simulation's seeded choices
	}
	var db store.Store = w.raw
	if cfg.Broken != nil {
		db = cfg.Broken(w.raw)
	}
	w.audit = &auditStore{Store: db, raw: w.raw}
	status := func(xid string) tcc.TxStatus {
		t, err := w.raw.Get(context.Background(), xid)
		if err != nil {
			return ""
		}
		return t.Status
	}
	byName := map[string]*participant{}
	for i := 0; i < 3; i++ {
		p := newParticipant("p"+strconv.Itoa(i), int64(30+rng.IntN(120)), status)
		w.parts = append(w.parts, p)
		byName[p.name] = p
	}
	w.net = newNetwork(cfg.Seed, byName, status)

	nInst := 2 + rng.IntN(2)
	for i := 0; i < nInst; i++ {
		in := &instance{name: "c" + strconv.Itoa(i)}
		in.mem = w.cluster.Join(in.name)
		w.insts = append(w.insts, in)
		w.boot(in)
	}
	w.stats.Instances, w.stats.Txs = nInst, cfg.Txs

	plans := w.planWorkload(rng)
	faults := planFaults(rng, nInst, cfg.FaultFor)

	w.setFaulty(true)
	var clients sync.WaitGroup
	for _, p := range plans {
		clients.Go(func() { w.client(p) })
	}
	w.drive(faults) // returns at FaultFor
	w.setFaulty(false)
	w.heal()
	clients.Wait()

	// Quiescence: every transaction final, with a bound.
	for i := 0; i < 900 && !w.allFinal(); i++ {
		time.Sleep(time.Second)
	}
	for _, in := range w.insts {
		if e := in.engine(); e != nil {
			e.Close(30 * time.Second)
		}
	}
	time.Sleep(10 * time.Second) // every delivery still in flight lands
	res := &Result{}
	w.stats.SimTime = time.Since(w.start)
	res.Violations = append(w.problems, w.check()...)
	res.Stats = w.collectStats()
	res.Digest = w.digest()
	return res
}

func (w *world) setFaulty(on bool) {
	w.faulty.Store(on)
	w.net.faulty.Store(on)
}

// boot starts a new incarnation of in: a fresh registry, store connection and engine.
func (w *world) boot(in *instance) {
	crashed := &atomic.Bool{}
	urls := map[string]string{}
	for _, p := range w.parts {
		urls[p.name] = "http://" + p.name
	}
	reg, err := registry.New(urls, registry.Options{
		BreakerThreshold: 5, BreakerCooldown: time.Second,
		Transport: &transport{n: w.net, from: in.name, crashed: crashed},
	})
	if err != nil {
		panic(err)
	}
	w.mu.Lock()
	seed := w.engineRNG.Uint64()
	w.mu.Unlock()
	ps := &procStore{
		db:      w.audit,
		f:       &storeFaults{seed: seed, faulty: &w.faulty, stats: &w.stores, smu: &w.smu, nth: map[string]int{}},
		crashed: crashed,
	}
	cfg := engine.DefaultConfig()
	cfg.CallTimeout = time.Second
	cfg.RetryBase, cfg.RetryCap = 50*time.Millisecond, 2*time.Second
	// A scan period of its own per incarnation (500 ms and a few ns): two instances'
	// scans never tick at the same simulated instant.
	cfg.ScanInterval, cfg.ScanPage = 500*time.Millisecond+time.Duration(seed%100000), 7
	cfg.CompletionWait = 2 * time.Second
	cfg.BatchWorkers, cfg.BatchMax = 2, 8
	h := slog.DiscardHandler
	if w.cfg.Log != nil {
		h = w.cfg.Log
	}
	eng, err := engine.New(cfg, engine.Deps{
		Store: ps, Registry: reg, Membership: in.mem, Metrics: metrics.New(),
		Log: slog.New(h).With("instance", in.name),
		// The jitter of a backoff is drawn from (seed, the simulated instant, d): the
		// same whatever the order of the goroutines asking at one instant.
		Jitter: func(d time.Duration) time.Duration {
			r := rand.New(rand.NewPCG(seed, uint64(time.Now().UnixNano())^uint64(d)*0x9e3779b97f4a7c15)) //nolint:gosec // a simulation's seeded choices
			return time.Duration(r.Int64N(int64(d)))
		},
	})
	if err != nil {
		panic(err)
	}
	in.mu.Lock()
	in.eng, in.crashed, in.closed = eng, crashed, nil
	in.gen++
	in.mu.Unlock()
	eng.KickScan()
}

func (w *world) planWorkload(rng *rand.Rand) []txPlan {
	out := make([]txPlan, w.cfg.Txs)
	step := w.cfg.FaultFor / time.Duration(w.cfg.Txs)
	at := time.Duration(0)
	for i := range out {
		at += time.Millisecond + time.Duration(rng.Int64N(int64(2*step)))
		p := txPlan{key: fmt.Sprintf("k%04d", i), at: at, inst: rng.IntN(8), amounts: map[string]int64{},
			timeout: time.Duration(500+rng.IntN(4500)) * time.Millisecond, wait: tcc.WaitCompletion,
			rng: rand.New(rand.NewPCG(rng.Uint64(), uint64(i)))} //nolint:gosec // a simulation's seeded choices
		if rng.IntN(3) == 0 {
			p.wait = tcc.WaitDecision
		}
		n := 1 + rng.IntN(3)
		for _, j := range rng.Perm(len(w.parts))[:n] {
			amt := int64(1 + rng.IntN(15))
			p.branches = append(p.branches, tcc.BranchSpec{Participant: w.parts[j].name, Action: "reserve",
				Payload: json.RawMessage(fmt.Sprintf(`{"amount":%d}`, amt))})
		}
		if rng.IntN(4) == 0 {
			p.lockKeys = []string{"lk" + strconv.Itoa(rng.IntN(3))}
		}
		out[i] = p
	}
	return out
}

func planFaults(rng *rand.Rand, n int, until time.Duration) []instFault {
	var out []instFault
	ms := func(lo, hi int64) time.Duration { // uniform in [lo, hi) ms, to the nanosecond
		return time.Duration(lo)*time.Millisecond + time.Duration(rng.Int64N((hi-lo)*int64(time.Millisecond)))
	}
	for at := ms(0, 1000); at < until; at += ms(200, 2000) {
		f := instFault{at: at, inst: rng.IntN(n), down: ms(100, 3000)}
		switch x := rng.IntN(10); {
		case x < 2:
			f.kind = "lease"
		case x < 4:
			f.kind = "takeover"
		case x < 8:
			f.kind = "partition"
		default:
			f.kind = "crash"
		}
		out = append(out, f)
	}
	return out
}

// client begins one transaction, retrying (same idempotency key, another instance) while
// the answer is not ready or the database unavailable.
func (w *world) client(p txPlan) {
	time.Sleep(p.at)
	in := engine.BeginInput{
		Req:     tcc.BeginRequest{Branches: p.branches, Wait: p.wait, LockKeys: p.lockKeys},
		Timeout: p.timeout, IdempotencyKey: p.key, RequestHash: "h-" + p.key, Meta: tcc.Meta{RequestID: p.key},
	}
	for attempt := 0; attempt < 1000; attempt++ {
		inst := w.insts[(p.inst+attempt)%len(w.insts)]
		eng := inst.engine()
		var err error
		if eng != nil {
			ctx, cancel := context.WithTimeout(context.Background(), p.timeout+10*time.Second)
			var out engine.BeginOutcome
			out, err = eng.Begin(ctx, in)
			cancel()
			w.mu.Lock()
			w.stats.Begins++
			if attempt > 0 {
				w.stats.BeginRetries++
			}
			if err == nil && out.Replay {
				w.stats.Replays++
			}
			w.mu.Unlock()
			if err == nil && out.Tx != nil {
				w.mu.Lock()
				w.answers = append(w.answers, clientAnswer{key: p.key, xid: out.Tx.XID, status: out.Tx.Status, reached: out.Reached})
				w.mu.Unlock()
				return
			}
			if errors.Is(err, engine.ErrIdempotencyMismatch) {
				w.problem("client", p.key+": idempotency mismatch on a retry of the same request")
				return
			}
		}
		time.Sleep(time.Duration(100+p.rng.IntN(400)) * time.Millisecond)
	}
	w.problem("client", p.key+": never answered")
}

func (w *world) problem(inv, detail string) {
	w.mu.Lock()
	w.problems = append(w.problems, Violation{inv, detail})
	w.mu.Unlock()
}

// drive injects the instance faults in order, with their recoveries, until FaultFor.
func (w *world) drive(faults []instFault) {
	type event struct {
		at   time.Duration
		inst int
		kind string
	}
	var evs []event
	for _, f := range faults {
		evs = append(evs, event{f.at, f.inst, f.kind}, event{f.at + f.down, f.inst, "recover"})
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].at < evs[j].at })
	t0 := time.Now()
	for _, ev := range evs {
		if ev.at >= w.cfg.FaultFor {
			break
		}
		time.Sleep(ev.at - time.Since(t0))
		in := w.insts[ev.inst]
		switch ev.kind {
		case "lease", "takeover":
			if in.engine() == nil || in.mem.Current() == nil {
				continue
			}
			in.mem.LoseLease()
			w.mu.Lock()
			w.stats.LeaseLosses++
			w.mu.Unlock()
			if ev.kind == "takeover" {
				for _, o := range w.insts {
					if e := o.engine(); e != nil && o != in {
						e.KickScan()
					}
				}
			}
		case "partition":
			// Cut off from etcd: the lease expires for the cluster at once, the others
			// scan and take its rows over, and the instance notices only after a lag, a
			// while during which it still drives (and writes) under its old owner tag.
			if in.engine() == nil || in.mem.Current() == nil {
				continue
			}
			in.mem.Expire()
			w.mu.Lock()
			w.stats.Partitions++
			lag := 50*time.Millisecond + time.Duration(w.engineRNG.Int64N(int64(950*time.Millisecond)))
			w.mu.Unlock()
			for _, o := range w.insts {
				if e := o.engine(); e != nil && o != in {
					e.KickScan()
				}
			}
			ep := in.mem.Current()
			go func() {
				time.Sleep(lag)
				if in.mem.Current() == ep {
					in.mem.LoseLease()
				}
			}()
		case "crash":
			w.crash(in)
		case "recover":
			w.recover(in)
		}
	}
	time.Sleep(w.cfg.FaultFor - time.Since(t0))
}

// crash stops in abruptly: from now on nothing it does reaches the database or a
// participant (its queued writes are lost), its lease goes, and its engine is stopped
// in the background to release its goroutines.
func (w *world) crash(in *instance) {
	in.mu.Lock()
	if in.crashed.Load() {
		in.mu.Unlock()
		return
	}
	in.crashed.Store(true)
	eng, closed := in.eng, make(chan struct{})
	in.closed = closed
	in.mu.Unlock()
	in.mem.LoseLease()
	go func() { eng.Close(0); close(closed) }()
	w.mu.Lock()
	w.stats.Crashes++
	w.mu.Unlock()
}

// recover restarts a crashed instance (a new process, a new lease), or gives a live one
// that lost its lease (or whose lease expired unnoticed) a new one.
func (w *world) recover(in *instance) {
	in.mu.Lock()
	crashed, closed, eng := in.crashed.Load(), in.closed, in.eng
	in.mu.Unlock()
	if crashed {
		<-closed
		in.mem.Rejoin()
		w.boot(in)
		w.mu.Lock()
		w.stats.Restarts++
		w.mu.Unlock()
		return
	}
	if ep := in.mem.Current(); ep == nil || ep.Expired() {
		in.mem.Rejoin()
		eng.KickScan()
	}
}

// heal brings every instance back with a live lease.
func (w *world) heal() {
	for _, in := range w.insts {
		w.recover(in)
	}
}

func (w *world) allFinal() bool {
	hs, err := w.raw.Unfinished(context.Background(), "", 1)
	return err == nil && len(hs) == 0
}

func (w *world) collectStats() Stats {
	s := w.stats
	ns := w.net.snapshotStats()
	s.Calls, s.LostRequests, s.LostAnswers, s.Duplicated, s.Delayed, s.Unavailable = ns.calls, ns.lostRequests, ns.lostAnswers, ns.duplicated, ns.delayed, ns.unavailable
	w.smu.Lock()
	s.StoreFailBefore, s.StoreLoseAnswer = w.stores.failBefore, w.stores.loseAnswer
	w.smu.Unlock()
	s.Takeovers, s.StaleWrites = w.audit.counts()
	txs, _ := w.raw.List(context.Background(), store.ListFilter{Limit: 1 << 30})
	s.Txs = len(txs)
	for _, t := range txs {
		switch t.Status {
		case tcc.TxConfirmed:
			s.Confirmed++
		case tcc.TxCancelled:
			s.Cancelled++
		}
	}
	for _, p := range w.parts {
		_, _, _, _, _, ps := p.snapshot()
		s.LateTries += ps.lateTries
		s.Suspended += ps.suspended
		s.Expired += ps.expired
		s.EmptyCompensations += ps.empty
		s.Duplicates += ps.duplicates
		s.TryRefusals += ps.refused
	}
	return s
}

func (n *network) snapshotStats() netStats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stats
}
