package harness

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"

	"github.com/tccsuite/tccsuite/internal/chaos/faultproxy"
	"github.com/tccsuite/tccsuite/internal/chaos/invariant"
)

// Summary is what a run found.
type Summary struct {
	Placed       int              `json:"placed"`
	Confirmed    int              `json:"confirmed"`
	Refused      map[string]int   `json:"refused"`    // 409 answers by code
	GaveUp       map[string]int   `json:"gave_up"`    // orders whose retries ran out, by last error
	Faults       map[string]int64 `json:"faults"`     // injected faults by kind
	Takeovers    int64            `json:"takeovers"`  // transactions taken over from dead coordinators
	Answers      map[string]int   `json:"answers"`    // every answer to POST /api/v1/orders, by status (503 by Retry-After)
	Ambiguous    Ambiguous        `json:"ambiguous"`  // the ambiguous clients
	Exits        map[string]int   `json:"exits"`      // processes that exited without being told to, restarted by the supervisor
	Notes        []string         `json:"notes"`      // findings that are not violations
	Quiescence   time.Duration    `json:"quiescence"` // from the last order to every transaction final
	Transactions int              `json:"transactions"`
	Violations   []string         `json:"violations"`
	Pass         bool             `json:"pass"`
}

// newSummary returns an empty summary with its maps made.
func newSummary() Summary {
	return Summary{Refused: map[string]int{}, GaveUp: map[string]int{}, Faults: map[string]int64{}}
}

// Ambiguous summarises the ambiguous clients: how many there were, how many hung up
// before an answer, how many price changes the harness made between hang-up and retry,
// and what they finally learned.
type Ambiguous struct {
	Clients      int      `json:"clients"`
	HungUp       int      `json:"hung_up"`
	PriceChanges int      `json:"price_changes"`
	Confirmed    int      `json:"confirmed"`
	Refused      int      `json:"refused"`
	GaveUp       int      `json:"gave_up"`
	GaveUpKeys   []string `json:"gave_up_keys,omitempty"` // reported, not violations
}

// String renders the summary for a terminal.
func (s Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "orders placed       %d\n", s.Placed)
	fmt.Fprintf(&b, "confirmed           %d\n", s.Confirmed)
	fmt.Fprintf(&b, "refused             %s\n", fmtCounts(s.Refused))
	fmt.Fprintf(&b, "gave up (retries)   %s\n", fmtCounts(s.GaveUp))
	faults := map[string]int{}
	for k, v := range s.Faults {
		faults[k] = int(v)
	}
	fmt.Fprintf(&b, "faults injected     %s\n", fmtCounts(faults))
	fmt.Fprintf(&b, "takeovers           %d\n", s.Takeovers)
	fmt.Fprintf(&b, "answers             %s\n", fmtCounts(s.Answers))
	if s.Ambiguous.Clients > 0 {
		a := s.Ambiguous
		fmt.Fprintf(&b, "ambiguous clients   %d (hung up %d, price changes %d, confirmed %d, refused %d, gave up %d)\n",
			a.Clients, a.HungUp, a.PriceChanges, a.Confirmed, a.Refused, a.GaveUp)
	}
	fmt.Fprintf(&b, "unexpected exits    %s\n", fmtCounts(s.Exits))
	fmt.Fprintf(&b, "transactions        %d\n", s.Transactions)
	fmt.Fprintf(&b, "time to quiescence  %s\n", s.Quiescence.Round(time.Millisecond))
	for _, n := range s.Notes {
		b.WriteString("note                " + n + "\n")
	}
	if s.Pass {
		b.WriteString("result              PASS\n")
	} else {
		b.WriteString("result              FAIL\n")
		for _, v := range s.Violations {
			b.WriteString("  " + v + "\n")
		}
	}
	return b.String()
}

func fmtCounts(m map[string]int) string {
	if len(m) == 0 {
		return "0"
	}
	keys := make([]string, 0, len(m))
	total := 0
	for k, v := range m {
		keys = append(keys, k)
		total += v
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return fmt.Sprintf("%d (%s)", total, strings.Join(parts, ", "))
}

// tally adds to sum what the run did and saw once the workload is over: every fault
// injected by kind, the takeovers, the answer table, the unexpected exits and the
// ambiguous clients. ctx bounds the coordinators' metrics scrape.
func (r *chaosRun) tally(ctx context.Context, sum *Summary) {
	for _, p := range r.proxies {
		for k, v := range p.Stats() {
			if k != faultproxy.KindClean {
				sum.Faults[k] += v
			}
		}
	}
	sum.Faults["coordinator_sigkill"] = r.kills.Load()
	sum.Faults["participant_restart"] = r.restarts.Load()
	sum.Faults[FaultDBSigkill] = r.dbCrashes.Load()
	sum.Faults[FaultEtcdOutage] = r.etcdOutages.Load()
	sum.Faults[FaultEtcdPartition] = r.partitions.Load()
	if r.cfg.AmbiguousEvery > 0 {
		sum.Faults[FaultClientHangUp] = r.hungUp.Load()
	}
	for _, c := range r.coords {
		r.takeovers.Add(r.scrapeTakeovers(ctx, c))
	}
	sum.Takeovers = r.takeovers.Load()
	sum.Answers = r.answers.snapshot()
	r.exitsMu.Lock()
	sum.Exits = maps.Clone(r.exits)
	r.exitsMu.Unlock()
	r.tallyAmbiguous(sum)
}

// tallyAmbiguous adds what the ambiguous clients finally learned, and notes the keys
// that gave up and the price changes that could not be made.
func (r *chaosRun) tallyAmbiguous(sum *Summary) {
	r.keysMu.Lock()
	defer r.keysMu.Unlock()
	a := Ambiguous{Clients: len(r.keys), HungUp: int(r.hungUp.Load()), PriceChanges: int(r.priceChanges.Load())}
	for _, k := range r.keys {
		switch k.Answer {
		case invariant.KeyConfirmed:
			a.Confirmed++
		case invariant.KeyRefused:
			a.Refused++
		default:
			a.GaveUp++
			a.GaveUpKeys = append(a.GaveUpKeys, k.Key+" ("+k.Code+")")
		}
	}
	sort.Strings(a.GaveUpKeys)
	sum.Ambiguous = a
	if len(a.GaveUpKeys) > 0 {
		keys := a.GaveUpKeys
		if len(keys) > 5 {
			keys = append(keys[:5:5], fmt.Sprintf("... %d more", len(a.GaveUpKeys)-5))
		}
		sum.Notes = append(sum.Notes, fmt.Sprintf("%d ambiguous clients gave up (their orders checked final): %s", a.GaveUp, strings.Join(keys, ", ")))
	}
	if n := r.priceChangeFailed.Load(); n > 0 {
		sum.Notes = append(sum.Notes, fmt.Sprintf("%d price changes could not be made; those SKUs' conservation is not checked", n))
	}
}

// judge reads the suite's state at rest, checks every invariant on it, and, with
// StrictAnswers, the answer table; it records the violations and the verdict in sum.
// An error means the state could not be read.
func (r *chaosRun) judge(ctx context.Context, sum *Summary) error {
	snap, err := r.snapshot(ctx)
	if err != nil {
		return err
	}
	sum.Transactions = len(snap.Txs)
	for _, v := range invariant.Check(snap) {
		sum.Violations = append(sum.Violations, v.String())
	}
	if bad := BadAnswers(sum.Answers); r.cfg.StrictAnswers && len(bad) > 0 {
		sum.Violations = append(sum.Violations, "answers-well-formed: POST /api/v1/orders answered "+strings.Join(bad, ", ")+" (want only 201, 4xx and 503 with Retry-After)")
	}
	sum.Pass = len(sum.Violations) == 0
	return nil
}
