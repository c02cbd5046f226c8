// Package invariant checks, on a snapshot of the whole suite taken at rest, every
// invariant of docs/design.md §11 (the business rules of §6 and the ones a TCC
// coordinator exists to keep: nothing lost, nothing applied twice, nothing left half
// done). The snapshot is plain data, read from
// the public APIs by Fetch, so that the checks can also be fed broken states in tests.
package invariant

import (
	"fmt"
	"sort"
	"strings"
)

// Item is one SKU: its stock at the start of the run and now.
type Item struct {
	SKU       string
	Initial   int64
	Available int64
	Reserved  int64
	Sold      int64
}

// Account is one payment account: its balance at the start of the run and now.
type Account struct {
	ID       string
	Initial  int64
	Balance  int64
	Frozen   int64
	Captured int64
}

// Order is an order row as the order service shows it.
type Order struct {
	OrderID  string
	XID      string
	UserID   string
	SKU      string
	Quantity int64
	Amount   int64
	Status   string // PENDING, CONFIRMED, CANCELLED
}

// Capture is one captured payment row.
type Capture struct {
	OrderID   string
	XID       string
	AccountID string
	Amount    int64
}

// Tx is a global transaction as the coordinator shows it.
type Tx struct {
	XID       string
	Status    string
	Attention bool
}

// Snapshot is the state of the suite at rest.
type Snapshot struct {
	Items    []Item
	Accounts []Account
	Orders   []Order
	Captures []Capture
	Txs      []Tx
	// Answered maps the XIDs of orders a client saw answered 201 CONFIRMED; each must
	// be CONFIRMED at rest (an acknowledged order is never lost).
	Answered map[string]bool
	// AttentionAllowed lists XIDs that may legitimately be flagged for attention (for
	// instance while a participant was deliberately kept down past the bound).
	AttentionAllowed map[string]bool
	// Keys is what each client that placed an order with an Idempotency-Key of its own
	// account finally learned; the orders of the key are that account's orders.
	Keys []KeyAnswer
}

// What a keyed client finally learned (KeyAnswer.Answer).
const (
	KeyConfirmed = "confirmed" // 201 with an order ID
	KeyRefused   = "refused"   // a final refusal (409, or another 4xx but 429)
	KeyGaveUp    = "gave-up"   // no final answer before the client stopped retrying
)

// KeyAnswer is one Idempotency-Key's final answer to its client. Account is an account
// used by this key only, so the key's orders are exactly Account's orders.
type KeyAnswer struct {
	Key     string
	Account string
	Answer  string // KeyConfirmed, KeyRefused or KeyGaveUp
	OrderID string // from the answer's body, when it named one
	Code    string // the refusal code, or the last answer of a client that gave up
}

// Violation is one broken invariant, with the XIDs (or keys) involved.
type Violation struct {
	Invariant string
	Detail    string
	XIDs      []string
}

func (v Violation) String() string {
	s := v.Invariant + ": " + v.Detail
	if len(v.XIDs) > 0 {
		ids := v.XIDs
		if len(ids) > 10 {
			ids = append(ids[:10:10], fmt.Sprintf("... %d more", len(v.XIDs)-10))
		}
		s += " [" + strings.Join(ids, ", ") + "]"
	}
	return s
}

// Invariant names, stable for tests and reports.
const (
	StockConserved      = "stock-conserved"       // available + reserved + sold = initial
	StockNotReserved    = "stock-not-reserved"    // reserved = 0 at rest
	StockNonNegative    = "stock-non-negative"    // no column below zero (no oversell)
	FundsConserved      = "funds-conserved"       // balance + frozen + captured = initial
	FundsNotFrozen      = "funds-not-frozen"      // frozen = 0 at rest
	FundsNonNegative    = "funds-non-negative"    // no column below zero
	OrderFinal          = "order-final"           // no order PENDING
	TxFinal             = "tx-final"              // every XID CONFIRMED or CANCELLED
	OrderMatchesTx      = "order-matches-tx"      // order status = its transaction's outcome
	OneCapturePerOrder  = "one-capture-per-order" // every CONFIRMED order has exactly one capture, others none
	CaptureMatchesOrder = "capture-matches-order" // the capture's amount and account are the order's
	SoldMatchesOrders   = "sold-matches-orders"   // per SKU, sold = quantities of CONFIRMED orders
	CapturedMatches     = "captured-matches"      // per account, captured = amounts of CONFIRMED orders
	AnsweredConfirmed   = "answered-confirmed"    // an order answered 201 is CONFIRMED
	NoAttention         = "no-attention"          // nothing flagged that should not be
	KeyOneOrder         = "key-one-order"         // per Idempotency-Key, at most one order that is not CANCELLED
	KeyAnswerHonoured   = "key-answer-honoured"   // a key's 201 is its CONFIRMED order; a refused key has none
)

// Check returns every violation in s, in a stable order; none means PASS.
func Check(s Snapshot) []Violation {
	var out []Violation
	add := func(inv, detail string, xids ...string) {
		sort.Strings(xids)
		out = append(out, Violation{Invariant: inv, Detail: detail, XIDs: xids})
	}

	confirmedQty := map[string]int64{}
	confirmedAmt := map[string]int64{}
	orderByID := map[string]Order{}
	txByXID := map[string]Tx{}
	for _, t := range s.Txs {
		txByXID[t.XID] = t
	}
	var pending, mismatch []string
	for _, o := range s.Orders {
		orderByID[o.OrderID] = o
		switch o.Status {
		case "CONFIRMED":
			confirmedQty[o.SKU] += o.Quantity
			confirmedAmt[o.UserID] += o.Amount
		case "CANCELLED":
		default:
			pending = append(pending, o.XID)
		}
		if t, ok := txByXID[o.XID]; ok && (o.Status == "CONFIRMED" || o.Status == "CANCELLED") && t.Status != o.Status {
			mismatch = append(mismatch, o.XID)
		}
	}
	if len(pending) > 0 {
		add(OrderFinal, fmt.Sprintf("%d orders not final", len(pending)), pending...)
	}
	if len(mismatch) > 0 {
		add(OrderMatchesTx, fmt.Sprintf("%d orders whose status differs from their transaction's", len(mismatch)), mismatch...)
	}

	for _, it := range s.Items {
		if sum := it.Available + it.Reserved + it.Sold; sum != it.Initial {
			add(StockConserved, fmt.Sprintf("SKU %s: available %d + reserved %d + sold %d = %d, initial %d", it.SKU, it.Available, it.Reserved, it.Sold, sum, it.Initial))
		}
		if it.Reserved != 0 {
			add(StockNotReserved, fmt.Sprintf("SKU %s: %d still reserved", it.SKU, it.Reserved))
		}
		if it.Available < 0 || it.Reserved < 0 || it.Sold < 0 {
			add(StockNonNegative, fmt.Sprintf("SKU %s: %+v", it.SKU, it))
		}
		if it.Sold != confirmedQty[it.SKU] {
			add(SoldMatchesOrders, fmt.Sprintf("SKU %s: sold %d, CONFIRMED orders hold %d", it.SKU, it.Sold, confirmedQty[it.SKU]), confirmedXIDs(s.Orders, func(o Order) bool { return o.SKU == it.SKU })...)
		}
	}
	for _, a := range s.Accounts {
		if sum := a.Balance + a.Frozen + a.Captured; sum != a.Initial {
			add(FundsConserved, fmt.Sprintf("account %s: balance %d + frozen %d + captured %d = %d, initial %d", a.ID, a.Balance, a.Frozen, a.Captured, sum, a.Initial))
		}
		if a.Frozen != 0 {
			add(FundsNotFrozen, fmt.Sprintf("account %s: %d still frozen", a.ID, a.Frozen))
		}
		if a.Balance < 0 || a.Frozen < 0 || a.Captured < 0 {
			add(FundsNonNegative, fmt.Sprintf("account %s: %+v", a.ID, a))
		}
		if a.Captured != confirmedAmt[a.ID] {
			add(CapturedMatches, fmt.Sprintf("account %s: captured %d, CONFIRMED orders amount to %d", a.ID, a.Captured, confirmedAmt[a.ID]), confirmedXIDs(s.Orders, func(o Order) bool { return o.UserID == a.ID })...)
		}
	}

	captures := map[string][]Capture{}
	for _, c := range s.Captures {
		captures[c.OrderID] = append(captures[c.OrderID], c)
	}
	var wrongCount, wrongCapture []string
	for _, o := range s.Orders {
		want := 0
		if o.Status == "CONFIRMED" {
			want = 1
		}
		cs := captures[o.OrderID]
		if len(cs) != want {
			wrongCount = append(wrongCount, o.XID)
			continue
		}
		for _, c := range cs {
			if c.Amount != o.Amount || c.AccountID != o.UserID {
				wrongCapture = append(wrongCapture, o.XID)
			}
		}
	}
	for id, cs := range captures {
		if _, ok := orderByID[id]; !ok {
			for _, c := range cs {
				wrongCount = append(wrongCount, c.XID)
			}
		}
	}
	if len(wrongCount) > 0 {
		add(OneCapturePerOrder, fmt.Sprintf("%d orders with a wrong number of captures", len(wrongCount)), wrongCount...)
	}
	if len(wrongCapture) > 0 {
		add(CaptureMatchesOrder, fmt.Sprintf("%d captures that differ from their order", len(wrongCapture)), wrongCapture...)
	}

	var open, flagged []string
	for _, t := range s.Txs {
		if t.Status != "CONFIRMED" && t.Status != "CANCELLED" {
			open = append(open, t.XID)
		}
		if t.Attention && !s.AttentionAllowed[t.XID] {
			flagged = append(flagged, t.XID)
		}
	}
	if len(open) > 0 {
		add(TxFinal, fmt.Sprintf("%d transactions not final", len(open)), open...)
	}
	if len(flagged) > 0 {
		add(NoAttention, fmt.Sprintf("%d transactions flagged for attention", len(flagged)), flagged...)
	}

	var lost []string
	ordersByXID := map[string]Order{}
	for _, o := range s.Orders {
		ordersByXID[o.XID] = o
	}
	for xid := range s.Answered {
		if o, ok := ordersByXID[xid]; !ok || o.Status != "CONFIRMED" {
			lost = append(lost, xid)
		}
	}
	if len(lost) > 0 {
		add(AnsweredConfirmed, fmt.Sprintf("%d orders answered 201 that are not CONFIRMED", len(lost)), lost...)
	}
	out = append(out, checkKeys(s)...)
	return out
}

// checkKeys compares what every keyed client finally learned with the orders of its key:
// a 201 names the key's one CONFIRMED order; a refusal leaves the key no CONFIRMED order
// (the order it named CANCELLED or absent); a client that gave up is not a violation (its
// orders must still be final, which OrderFinal checks); and no key has more than one
// order that is not CANCELLED.
func checkKeys(s Snapshot) []Violation {
	if len(s.Keys) == 0 {
		return nil
	}
	byAccount := map[string][]Order{}
	for _, o := range s.Orders {
		byAccount[o.UserID] = append(byAccount[o.UserID], o)
	}
	var several, dishonoured []string
	var details []string
	for _, k := range s.Keys {
		orders := byAccount[k.Account]
		live := 0
		var confirmed []Order
		for _, o := range orders {
			if o.Status != "CANCELLED" {
				live++
			}
			if o.Status == "CONFIRMED" {
				confirmed = append(confirmed, o)
			}
		}
		if live > 1 {
			several = append(several, k.Key)
		}
		switch k.Answer {
		case KeyConfirmed:
			if len(confirmed) != 1 || confirmed[0].OrderID != k.OrderID {
				dishonoured = append(dishonoured, k.Key)
				details = append(details, fmt.Sprintf("%s answered 201 order %s, CONFIRMED orders of the key: %s", k.Key, k.OrderID, orderIDs(confirmed)))
			}
		case KeyRefused:
			if len(confirmed) != 0 {
				dishonoured = append(dishonoured, k.Key)
				details = append(details, fmt.Sprintf("%s refused %s (order %s), yet CONFIRMED: %s", k.Key, k.Code, k.OrderID, orderIDs(confirmed)))
			}
		}
	}
	var out []Violation
	if len(several) > 0 {
		sort.Strings(several)
		out = append(out, Violation{Invariant: KeyOneOrder, Detail: fmt.Sprintf("%d keys with more than one order not CANCELLED", len(several)), XIDs: several})
	}
	if len(dishonoured) > 0 {
		sort.Strings(dishonoured)
		sort.Strings(details)
		if len(details) > 5 {
			details = append(details[:5:5], fmt.Sprintf("... %d more", len(details)-5))
		}
		out = append(out, Violation{Invariant: KeyAnswerHonoured, Detail: fmt.Sprintf("%d keys whose final answer the database contradicts: %s", len(dishonoured), strings.Join(details, "; ")), XIDs: dishonoured})
	}
	return out
}

func orderIDs(os []Order) string {
	if len(os) == 0 {
		return "none"
	}
	ids := make([]string, len(os))
	for i, o := range os {
		ids[i] = o.OrderID
	}
	return strings.Join(ids, ",")
}

func confirmedXIDs(orders []Order, keep func(Order) bool) []string {
	var x []string
	for _, o := range orders {
		if o.Status == "CONFIRMED" && keep(o) {
			x = append(x, o.XID)
		}
	}
	if len(x) > 20 {
		x = x[:20]
	}
	return x
}
