package domain

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestAmount(t *testing.T) {
	for _, tc := range []struct {
		price, qty, want int64
		err              error
	}{
		{250, 3, 750, nil},
		{0, 5, 0, nil},
		{math.MaxInt64, 1, math.MaxInt64, nil},
		{math.MaxInt64/2 + 1, 2, 0, ErrAmountOverflow},
		{1 << 62, 4, 0, ErrAmountOverflow},
		{-1, 1, 0, ErrInvalid},
	} {
		got, err := Amount(tc.price, tc.qty)
		if !errors.Is(err, tc.err) || (err == nil && got != tc.want) {
			t.Errorf("Amount(%d, %d) = %d, %v; want %d, %v", tc.price, tc.qty, got, err, tc.want, tc.err)
		}
	}
}

func TestPlaceRequestValidate(t *testing.T) {
	ok := PlaceRequest{UserID: "alice", SKU: "WIDGET-1", Quantity: 1}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]PlaceRequest{
		"no user":      {SKU: "A", Quantity: 1},
		"bad user":     {UserID: "a b", SKU: "A", Quantity: 1},
		"long sku":     {UserID: "a", SKU: strings.Repeat("s", 65), Quantity: 1},
		"zero":         {UserID: "a", SKU: "A"},
		"negative":     {UserID: "a", SKU: "A", Quantity: -1},
		"over bound":   {UserID: "a", SKU: "A", Quantity: MaxQuantity + 1},
		"unicode user": {UserID: "é", SKU: "A", Quantity: 1},
	} {
		if err := r.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestFingerprint(t *testing.T) {
	a := PlaceRequest{UserID: "ab", SKU: "c", Quantity: 1}
	b := PlaceRequest{UserID: "a", SKU: "bc", Quantity: 1}
	if a.Fingerprint() == b.Fingerprint() {
		t.Fatal("fingerprints of different requests collide")
	}
	if a.Fingerprint() != (PlaceRequest{UserID: "ab", SKU: "c", Quantity: 1}).Fingerprint() {
		t.Fatal("fingerprint is not deterministic")
	}
}

func TestPlacementValidate(t *testing.T) {
	p := Placement{OrderID: "o-1", UserID: "u", SKU: "S", Quantity: 2, UnitPrice: 5, Amount: 10}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	p.Amount = 11
	if err := p.Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("wrong amount accepted: %v", err)
	}
}

func TestIdempotencyKey(t *testing.T) {
	for k, want := range map[string]bool{"k": true, "abc-123_X": true, "": false, "a b": false, strings.Repeat("k", 129): false, "é": false} {
		if ValidIdempotencyKey(k) != want {
			t.Errorf("%q: want %v", k, want)
		}
	}
}
