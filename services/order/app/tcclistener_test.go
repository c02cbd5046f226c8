package app

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	payment "github.com/tccsuite/tccsuite/services/payment/app"
)

// With <S>_TCC_ADDR the order and payment services serve their TCC action on the second
// listener only: an (unsigned) phase call on the main port answers 404 NOT_FOUND, on the
// TCC port it reaches the participant (401, the signature is checked there); the REST
// API answers on the main port and 404 on the TCC port. (Inventory's own test runs a
// signed Try and Confirm end to end.)
func TestTCCListenerOrderAndPayment(t *testing.T) {
	for _, svc := range []struct {
		name, action, rest string
		run                func(ctx context.Context, ln, tccLn net.Listener) error
	}{
		{"order", "place", "/api/v1/orders/o-1", func(ctx context.Context, ln, tccLn net.Listener) error {
			c := dbCommon(t, onSQLite, "order")
			c.Insecure, c.HMACKey, c.TCCListener = false, "test-hmac-key-0123456789", tccLn
			return Run(ctx, Config{Common: c, Listener: ln, CoordinatorURL: "http://127.0.0.1:1", InventoryURL: "http://127.0.0.1:1",
				PaymentURL: "http://127.0.0.1:1", AccountCheck: true, TxTimeout: 5 * time.Second, Wait: "completion"}, testLogger(t))
		}},
		{"payment", "charge", "/api/v1/accounts/u-1", func(ctx context.Context, ln, tccLn net.Listener) error {
			c := dbCommon(t, onSQLite, "payment")
			c.Insecure, c.HMACKey, c.TCCListener = false, "test-hmac-key-0123456789", tccLn
			return payment.Run(ctx, payment.Config{Common: c, Listener: ln}, testLogger(t))
		}},
	} {
		t.Run(svc.name, func(t *testing.T) {
			tccLn, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			tccURL := "http://" + tccLn.Addr().String()
			mainURL := startService(t, func(ctx context.Context, ln net.Listener) error {
				err := svc.run(ctx, ln, tccLn)
				if err != nil {
					_ = tccLn.Close()
				}
				return err
			})
			s := &suite{t: t, client: &http.Client{Timeout: 30 * time.Second}}
			body := `{}`
			hdr := map[string]string{"X-TCC-XID": "xid-1", "X-TCC-Branch-ID": svc.name, "X-TCC-Deadline": time.Now().Add(time.Minute).UTC().Format(time.RFC3339)}
			for _, phase := range []string{"try", "confirm", "cancel"} {
				path := "/tcc/" + svc.action + "/" + phase
				if st, m, _ := s.do("POST", mainURL+path, body, hdr); st != http.StatusNotFound || m["code"] != "NOT_FOUND" {
					t.Errorf("POST %s on the main port: %d %v, want 404 NOT_FOUND", path, st, m)
				}
				if st, m, _ := s.do("POST", tccURL+path, body, hdr); st != http.StatusUnauthorized {
					t.Errorf("unsigned POST %s on the TCC port: %d %v, want 401 from the participant", path, st, m)
				}
			}
			// On the main port the REST route answers (here: the resource does not exist).
			if st, m, _ := s.do("GET", mainURL+svc.rest, "", nil); st != http.StatusNotFound || m["code"] == "NOT_FOUND" && m["message"] == "no such endpoint" {
				t.Errorf("GET %s on the main port: %d %v, want the handler's own 404", svc.rest, st, m)
			}
			if st, m, _ := s.do("GET", tccURL+svc.rest, "", nil); st != http.StatusNotFound || m["message"] != "no such endpoint" {
				t.Errorf("GET %s on the TCC port: %d %v, want 404 no such endpoint", svc.rest, st, m)
			}
			if st, m, _ := s.do("GET", tccURL+"/healthz", "", nil); st != http.StatusOK {
				t.Errorf("GET /healthz on the TCC port: %d %v", st, m)
			}
		})
	}
}
