package domain

import (
	"errors"
	"math/big"
	"testing"
)

// FuzzPlaceRequest: Validate accepts exactly the well-formed requests, and two different
// requests never share a fingerprint (so an Idempotency-Key reused with another body is
// always caught).
func FuzzPlaceRequest(f *testing.F) {
	f.Add("alice", "WIDGET", int64(2), "alice", "WIDGET", int64(3))
	f.Add("a:b", "W", int64(1), "a", "b:W", int64(1))
	f.Add("", "x", int64(0), "x", "", int64(-1))
	f.Add("u1", "s|1", int64(1001), "u1|", "s", int64(1))
	f.Fuzz(func(t *testing.T, u1, s1 string, q1 int64, u2, s2 string, q2 int64) {
		r1, r2 := PlaceRequest{u1, s1, q1}, PlaceRequest{u2, s2, q2}
		wellFormed := ValidRef(u1) && ValidRef(s1) && q1 >= 1 && q1 <= MaxQuantity
		if err := r1.Validate(); (err == nil) != wellFormed {
			t.Fatalf("Validate(%+v) = %v, well-formed %v", r1, err, wellFormed)
		} else if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("Validate error %v is not ErrInvalid", err)
		}
		if r1 != r2 && r1.Fingerprint() == r2.Fingerprint() {
			t.Fatalf("%+v and %+v share a fingerprint", r1, r2)
		}
	})
}

// FuzzIdempotencyKey: accepted keys are 1..128 printable ASCII characters, nothing else.
func FuzzIdempotencyKey(f *testing.F) {
	for _, k := range []string{"demo-1", "", " x", "x\n", "é", string(make([]byte, 129))} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, k string) {
		ok := len(k) >= 1 && len(k) <= MaxIdempotencyKeyLen
		for i := 0; i < len(k); i++ {
			ok = ok && k[i] > 0x20 && k[i] < 0x7f
		}
		if ValidIdempotencyKey(k) != ok {
			t.Fatalf("ValidIdempotencyKey(%q) = %v", k, !ok)
		}
	})
}

// FuzzAmount: the amount is the exact product, or ErrAmountOverflow / ErrInvalid; it
// never wraps around.
func FuzzAmount(f *testing.F) {
	f.Add(int64(1999), int64(2))
	f.Add(int64(1<<62), int64(2))
	f.Add(int64(-1), int64(1))
	f.Fuzz(func(t *testing.T, price, qty int64) {
		got, err := Amount(price, qty)
		exact := new(big.Int).Mul(big.NewInt(price), big.NewInt(qty))
		switch {
		case price < 0 || qty < 0:
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Amount(%d, %d) = %d, %v; want ErrInvalid", price, qty, got, err)
			}
		case !exact.IsInt64():
			if !errors.Is(err, ErrAmountOverflow) {
				t.Fatalf("Amount(%d, %d) = %d, %v; want ErrAmountOverflow", price, qty, got, err)
			}
		default:
			if err != nil || got != exact.Int64() {
				t.Fatalf("Amount(%d, %d) = %d, %v; want %s", price, qty, got, err, exact)
			}
		}
	})
}
