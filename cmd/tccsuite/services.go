package main

import (
	"context"
	"fmt"
	"net"

	inventory "github.com/tccsuite/tccsuite/services/inventory/app"
	order "github.com/tccsuite/tccsuite/services/order/app"
	payment "github.com/tccsuite/tccsuite/services/payment/app"
)

// services are the three services' configurations, their listeners bound.
type services struct {
	inv inventory.Config
	pay payment.Config
	ord order.Config
	lns []net.Listener
	// The services' local base URLs, known once they listen.
	invURL, payURL, orderURL string
}

// configureServices reads the services' configurations through env and binds their
// listeners, so that their URLs are known before anything calls them (a request waits
// in the accept queue until its service serves). On an error nothing stays bound.
func configureServices(ctx context.Context, env func(string) string) (*services, error) {
	s := &services{}
	var err error
	if s.inv, err = inventory.ConfigFromEnv(env); err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	if s.pay, err = payment.ConfigFromEnv(env); err != nil {
		return nil, fmt.Errorf("payment: %w", err)
	}
	if s.ord, err = order.ConfigFromEnv(env); err != nil {
		return nil, fmt.Errorf("order: %w", err)
	}
	for _, c := range []struct {
		addr string
		ln   *net.Listener
	}{{s.inv.Addr, &s.inv.Listener}, {s.pay.Addr, &s.pay.Listener}, {s.ord.Addr, &s.ord.Listener}} {
		ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", c.addr)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("listen %s: %w (is the suite already running?)", c.addr, err)
		}
		s.lns = append(s.lns, ln)
		*c.ln = ln
	}
	s.invURL = localURL(s.inv.Listener.Addr().String())
	s.payURL = localURL(s.pay.Listener.Addr().String())
	s.orderURL = localURL(s.ord.Listener.Addr().String())
	return s, nil
}

// close closes the listeners; a second call is harmless.
func (s *services) close() {
	for _, ln := range s.lns {
		_ = ln.Close()
	}
}

// participants is the coordinator's TCC_PARTICIPANTS: each participant where it serves
// /tcc/, its <S>_TCC_ADDR when set, else its main listener.
func (s *services) participants() string {
	tccURL := func(mainURL, tccAddr string) string {
		if tccAddr != "" {
			return localURL(tccAddr)
		}
		return mainURL
	}
	return "order=" + tccURL(s.orderURL, s.ord.TCCAddr) + ",inventory=" + tccURL(s.invURL, s.inv.TCCAddr) +
		",payment=" + tccURL(s.payURL, s.pay.TCCAddr)
}

// pointOrderAt makes the order service call the quick start's own coordinator,
// inventory and payment, except where the user set ORDER_*_URL.
func (s *services) pointOrderAt(c config, coordURL string) {
	if c.OrderCoordinatorURL == "" {
		s.ord.CoordinatorURL = coordURL
	}
	if c.OrderInventoryURL == "" {
		s.ord.InventoryURL = s.invURL
	}
	if c.OrderPaymentURL == "" {
		s.ord.PaymentURL = s.payURL
	}
}
