package invariant

import (
	"testing"
)

// good is a consistent state at rest: three orders confirmed, two cancelled; the keyed
// clients of u2 (refused), u3 (confirmed after a first attempt was cancelled) and u4
// (gave up, nothing placed) learned what the database holds.
func good() Snapshot {
	return Snapshot{
		Items: []Item{
			{SKU: "A", Initial: 10, Available: 7, Sold: 3},
			{SKU: "B", Initial: 5, Available: 4, Sold: 1},
		},
		Accounts: []Account{
			{ID: "u1", Initial: 1000, Balance: 700, Captured: 300},
			{ID: "u2", Initial: 50, Balance: 50},
			{ID: "u3", Initial: 500, Balance: 400, Captured: 100},
		},
		Orders: []Order{
			{OrderID: "o1", XID: "x1", UserID: "u1", SKU: "A", Quantity: 1, Amount: 100, Status: "CONFIRMED"},
			{OrderID: "o2", XID: "x2", UserID: "u1", SKU: "A", Quantity: 2, Amount: 200, Status: "CONFIRMED"},
			{OrderID: "o3", XID: "x3", UserID: "u2", SKU: "B", Quantity: 1, Amount: 100, Status: "CANCELLED"},
			{OrderID: "o4", XID: "x4", UserID: "u3", SKU: "B", Quantity: 1, Amount: 100, Status: "CONFIRMED"},
			{OrderID: "o5", XID: "x5", UserID: "u3", SKU: "B", Quantity: 1, Amount: 100, Status: "CANCELLED"},
		},
		Captures: []Capture{
			{OrderID: "o1", XID: "x1", AccountID: "u1", Amount: 100},
			{OrderID: "o2", XID: "x2", AccountID: "u1", Amount: 200},
			{OrderID: "o4", XID: "x4", AccountID: "u3", Amount: 100},
		},
		Txs: []Tx{
			{XID: "x1", Status: "CONFIRMED"}, {XID: "x2", Status: "CONFIRMED"}, {XID: "x3", Status: "CANCELLED"},
			{XID: "x4", Status: "CONFIRMED"}, {XID: "x5", Status: "CANCELLED"},
		},
		Answered: map[string]bool{"x1": true, "x2": true, "x4": true},
		Keys: []KeyAnswer{
			{Key: "k2", Account: "u2", Answer: KeyRefused, OrderID: "o3", Code: "OUT_OF_STOCK"},
			{Key: "k3", Account: "u3", Answer: KeyConfirmed, OrderID: "o4"},
			{Key: "k4", Account: "u4", Answer: KeyGaveUp, Code: "503 UNAVAILABLE"},
		},
	}
}

func TestGoodStatePasses(t *testing.T) {
	if v := Check(good()); len(v) != 0 {
		t.Fatalf("violations on a good state: %v", v)
	}
}

// TestEachInvariantCanFail breaks the good state in one way per case and checks that the
// checker names exactly the invariant(s) that the break violates.
func TestEachInvariantCanFail(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(s *Snapshot)
		want   []string
	}{
		{"stock leaked", func(s *Snapshot) { s.Items[1].Available = 3 }, []string{StockConserved}},
		{"stock reserved at rest", func(s *Snapshot) { s.Items[1].Available, s.Items[1].Reserved = 3, 1 }, []string{StockNotReserved}},
		{"oversold", func(s *Snapshot) { s.Items[1].Available, s.Items[1].Sold = -1, 6 }, []string{StockNonNegative, SoldMatchesOrders}},
		{"funds leaked", func(s *Snapshot) { s.Accounts[1].Balance = 49 }, []string{FundsConserved}},
		{"funds frozen at rest", func(s *Snapshot) { s.Accounts[1].Balance, s.Accounts[1].Frozen = 40, 10 }, []string{FundsNotFrozen}},
		{"negative balance", func(s *Snapshot) { s.Accounts[1].Balance, s.Accounts[1].Frozen = -10, 60 }, []string{FundsNotFrozen, FundsNonNegative}},
		{"order pending", func(s *Snapshot) { s.Orders[2].Status = "PENDING" }, []string{OrderFinal}},
		{"transaction not final", func(s *Snapshot) { s.Txs[2].Status = "CANCELLING" }, []string{TxFinal, OrderMatchesTx}},
		{"order and transaction disagree", func(s *Snapshot) { s.Txs[2].Status = "CONFIRMED" }, []string{OrderMatchesTx}},
		{"confirm applied twice in inventory", func(s *Snapshot) {
			s.Items[0].Available, s.Items[0].Sold = 6, 4
		}, []string{SoldMatchesOrders}},
		{"capture applied twice", func(s *Snapshot) {
			s.Captures = append(s.Captures, Capture{OrderID: "o1", XID: "x1", AccountID: "u1", Amount: 100})
			s.Accounts[0].Balance, s.Accounts[0].Captured = 600, 400
		}, []string{CapturedMatches, OneCapturePerOrder}},
		{"confirmed order without capture", func(s *Snapshot) {
			s.Captures = s.Captures[1:]
			s.Accounts[0].Balance, s.Accounts[0].Captured = 800, 200
		}, []string{CapturedMatches, OneCapturePerOrder}},
		{"capture of a cancelled order", func(s *Snapshot) {
			s.Captures = append(s.Captures, Capture{OrderID: "o3", XID: "x3", AccountID: "u2", Amount: 100})
		}, []string{OneCapturePerOrder}},
		{"capture of the wrong amount", func(s *Snapshot) { s.Captures[0].Amount = 99 }, []string{CaptureMatchesOrder}},
		{"capture without order", func(s *Snapshot) {
			s.Captures = append(s.Captures, Capture{OrderID: "ghost", XID: "xg", AccountID: "u2", Amount: 1})
		}, []string{OneCapturePerOrder}},
		{"acknowledged order lost", func(s *Snapshot) { s.Answered["x3"] = true }, []string{AnsweredConfirmed}},
		{"acknowledged order missing", func(s *Snapshot) { s.Answered["x9"] = true }, []string{AnsweredConfirmed}},
		{"attention flag", func(s *Snapshot) { s.Txs[0].Attention = true }, []string{NoAttention}},
		{"keyed 201 names another order", func(s *Snapshot) { s.Keys[1].OrderID = "o5" }, []string{KeyAnswerHonoured}},
		{"keyed 201 names no order", func(s *Snapshot) { s.Keys[1].OrderID = "o9" }, []string{KeyAnswerHonoured}},
		{"refused key has a confirmed order", func(s *Snapshot) { s.Keys[0].Account = "u3" }, []string{KeyAnswerHonoured}},
		{"key placed two orders", func(s *Snapshot) {
			s.Keys = append(s.Keys, KeyAnswer{Key: "k1", Account: "u1", Answer: KeyConfirmed, OrderID: "o1"})
		}, []string{KeyOneOrder, KeyAnswerHonoured}},
		{"gave-up key with an open order", func(s *Snapshot) {
			s.Orders = append(s.Orders, Order{OrderID: "o6", XID: "x6", UserID: "u4", SKU: "B", Quantity: 1, Amount: 100, Status: "PENDING"})
		}, []string{OrderFinal}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := good()
			tc.mutate(&s)
			got := map[string]bool{}
			for _, v := range Check(s) {
				got[v.Invariant] = true
				if v.String() == "" {
					t.Error("empty report")
				}
			}
			for _, w := range tc.want {
				if !got[w] {
					t.Errorf("missing %s; got %v", w, got)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("got %v, want exactly %v", got, tc.want)
			}
		})
	}
	// An allowed attention flag is not a violation.
	s := good()
	s.Txs[0].Attention = true
	s.AttentionAllowed = map[string]bool{"x1": true}
	if v := Check(s); len(v) != 0 {
		t.Errorf("allowed attention reported: %v", v)
	}
}
