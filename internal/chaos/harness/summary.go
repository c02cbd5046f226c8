package harness

import (
	"fmt"
	"sort"
	"strings"
	"time"
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
