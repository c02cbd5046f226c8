// Package service is the order service's application layer: placing an order (pricing
// from the catalogue, one global transaction over the order, inventory and payment
// branches, idempotent replays) and the order branch's TCC action.
package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/pkg/tcc"
	"github.com/tccsuite/tccsuite/services/order/internal/domain"
	"github.com/tccsuite/tccsuite/services/order/internal/store"
)

// Coordinator begins global transactions (tcc.Client and adapters.Coordinator).
type Coordinator interface {
	Begin(ctx context.Context, req tcc.BeginRequest, idempotencyKey string) (*tcc.Transaction, error)
}

// Catalogue prices SKUs (the inventory's catalogue).
type Catalogue interface {
	Price(ctx context.Context, sku string) (int64, error)
	Forget(sku string)
}

// Accounts checks that a user can pay (the payment service's accounts).
type Accounts interface {
	Check(ctx context.Context, userID string) error
}

// NoAccountCheck accepts every user: the payment Try is then what refuses an unknown one.
type NoAccountCheck struct{}

// Check always succeeds.
func (NoAccountCheck) Check(context.Context, string) error { return nil }

// Participant and action names of the three branches, as registered on the coordinator.
const (
	ParticipantOrder     = "order"
	ParticipantInventory = "inventory"
	ParticipantPayment   = "payment"
	ActionPlace          = "place"
	ActionReserve        = "reserve"
	ActionCharge         = "charge"
)

// Config tunes the service.
type Config struct {
	// TxTimeout is the global transaction's deadline (timeout_ms).
	TxTimeout time.Duration
	// Wait is tcc.WaitCompletion (answer once every branch confirmed: reads after the
	// answer see the final state) or tcc.WaitDecision (answer as soon as the decision is
	// durable: faster, the order may read PENDING for a moment).
	Wait string
}

// Service places orders.
type Service struct {
	cfg       Config
	store     *store.Store
	coord     Coordinator
	catalogue Catalogue
	accounts  Accounts
	log       *slog.Logger

	mu      sync.Mutex
	flights map[string]*flight
}

// New returns a Service.
func New(cfg Config, st *store.Store, coord Coordinator, cat Catalogue, acc Accounts, log *slog.Logger) *Service {
	return &Service{cfg: cfg, store: st, coord: coord, catalogue: cat, accounts: acc, log: log, flights: map[string]*flight{}}
}

// Placed is a confirmed order as POST answers it.
type Placed struct {
	OrderID string
	XID     string
	Amount  int64
}

type flight struct {
	done chan struct{}
	res  Placed
	err  error
}

// Place places an order and waits for its global transaction to be decided (or
// completed, per Config.Wait). It returns the confirmed order, or:
//   - domain.ErrInvalid, ErrUnknownSKU, ErrUnknownUser, ErrAmountOverflow: nothing was
//     started;
//   - domain.ErrKeyReused: the key was used for another request;
//   - *domain.RefusedError: a participant refused; the order is CANCELLED, nothing held;
//   - *domain.UnavailableError: undecided for now; retry, with the same key to be sure
//     not to order twice.
//
// With an idempotency key, any number of calls, concurrent or not, place at most one
// order, and once decided they all answer the same.
func (s *Service) Place(ctx context.Context, req domain.PlaceRequest, key string) (Placed, error) {
	if err := req.Validate(); err != nil {
		return Placed{}, err
	}
	if key == "" {
		return s.place(ctx, req, domain.NewOrderID(), "")
	}
	// Concurrent duplicates in this process share one execution.
	s.mu.Lock()
	if f, ok := s.flights[key]; ok {
		s.mu.Unlock()
		select {
		case <-f.done:
			return f.res, f.err
		case <-ctx.Done():
			return Placed{}, &domain.UnavailableError{Code: domain.UnavailableDependency, Reason: "request ended while a duplicate was in flight", Err: ctx.Err()}
		}
	}
	f := &flight{done: make(chan struct{})}
	s.flights[key] = f
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.flights, key)
		s.mu.Unlock()
		close(f.done)
	}()
	f.res, f.err = s.placeKeyed(ctx, req, key)
	return f.res, f.err
}

func (s *Service) placeKeyed(ctx context.Context, req domain.PlaceRequest, key string) (Placed, error) {
	fp := req.Fingerprint()
	rec, err := s.store.Claim(ctx, key, fp, domain.NewOrderID())
	if err != nil {
		return Placed{}, err
	}
	if rec.Fingerprint != fp {
		return Placed{}, fmt.Errorf("%w: key %q", domain.ErrKeyReused, key)
	}
	switch {
	case rec.Outcome == domain.OutcomeConfirmed:
		return Placed{OrderID: rec.OrderID, XID: rec.XID, Amount: rec.Amount}, nil
	case rec.Outcome != "":
		return Placed{}, &domain.RefusedError{Code: string(rec.Outcome), Message: rec.Message, OrderID: rec.OrderID, XID: rec.XID}
	}
	res, err := s.place(ctx, req, rec.OrderID, key)
	var refused *domain.RefusedError
	var unavailable *domain.UnavailableError
	switch {
	case err == nil:
		rec.XID, rec.Amount, rec.Outcome = res.XID, res.Amount, domain.OutcomeConfirmed
	case errors.As(err, &refused):
		rec.XID, rec.Outcome, rec.Message = refused.XID, domain.Outcome(refused.Code), refused.Message
	case errors.As(err, &unavailable) && unavailable.Code == domain.UnavailableFailed:
		// A technical failure cancelled the order for good: nothing is held, and a retry
		// with this key may place a fresh one.
		if ferr := s.store.Forget(context.WithoutCancel(ctx), key, rec.OrderID); ferr != nil {
			s.log.Warn("order: could not release an idempotency key", "key", key, "err", ferr)
		}
		return res, err
	default:
		return res, err
	}
	if derr := s.store.Decide(context.WithoutCancel(ctx), rec); derr != nil {
		// The outcome stands; a replay asks the coordinator again and gets the same.
		s.log.Warn("order: could not record an idempotent outcome", "key", key, "err", derr)
	}
	return res, err
}

// place prices the order and runs its global transaction with orderID.
func (s *Service) place(ctx context.Context, req domain.PlaceRequest, orderID, key string) (Placed, error) {
	price, err := s.catalogue.Price(ctx, req.SKU)
	if err != nil {
		if errors.Is(err, domain.ErrUnknownSKU) {
			return Placed{}, err
		}
		return Placed{}, &domain.UnavailableError{Code: domain.UnavailableDependency, Reason: "the catalogue is unavailable", Err: err}
	}
	amount, err := domain.Amount(price, req.Quantity)
	if err != nil {
		return Placed{}, err
	}
	if err := s.accounts.Check(ctx, req.UserID); err != nil {
		if errors.Is(err, domain.ErrUnknownUser) {
			return Placed{}, err
		}
		return Placed{}, &domain.UnavailableError{Code: domain.UnavailableDependency, Reason: "the payment service is unavailable", Err: err}
	}
	p := domain.Placement{OrderID: orderID, UserID: req.UserID, SKU: req.SKU, Quantity: req.Quantity, UnitPrice: price, Amount: amount}
	begin, err := beginRequest(p, s.cfg)
	if err != nil {
		return Placed{}, err
	}
	// The coordinator's idempotency key is the order ID: a duplicate that reached this
	// point with the same claimed order ID gets the same transaction.
	tx, err := s.coord.Begin(ctx, begin, "order:"+orderID)
	if err != nil {
		var ae *tcc.APIError
		if errors.As(err, &ae) && ae.XID != "" {
			return Placed{}, &domain.UnavailableError{Code: domain.UnavailableUndecided, Reason: "the transaction is not decided yet", OrderID: orderID, XID: ae.XID, Err: err}
		}
		return Placed{}, &domain.UnavailableError{Code: domain.UnavailableDependency, Reason: "the coordinator is unavailable", OrderID: orderID, Err: err}
	}
	log := s.log.With("xid", tx.XID, "order_id", orderID, "request_id", tcc.MetaFrom(ctx).RequestID)
	switch tx.Status {
	case tcc.TxConfirmed, tcc.TxConfirming:
		log.Debug("order confirmed", "status", tx.Status)
		return Placed{OrderID: orderID, XID: tx.XID, Amount: amount}, nil
	case tcc.TxCancelled, tcc.TxCancelling:
		// The order's Try may never have committed (cancelled in flight when another
		// branch refused first): record the order as CANCELLED so it can be read back.
		if err := s.store.RecordCancelled(context.WithoutCancel(ctx), tx.XID, p); err != nil {
			log.Warn("order: could not record the cancelled order", "err", err)
		}
		if r := tx.Refusal; r != nil {
			switch r.Code {
			case domain.RefusedOutOfStock, domain.RefusedInsufficientFunds, domain.RefusedPriceChanged,
				domain.RefusedUnknownSKU, domain.RefusedUnknownAccount:
				if r.Code == domain.RefusedPriceChanged || r.Code == domain.RefusedUnknownSKU {
					s.catalogue.Forget(req.SKU)
				}
				log.Info("order refused", "code", r.Code, "participant", r.Participant)
				return Placed{}, &domain.RefusedError{Code: r.Code, Message: refusalMessage(r.Code), OrderID: orderID, XID: tx.XID}
			}
		}
		log.Warn("order cancelled by a technical failure", "refusal", tx.Refusal)
		return Placed{}, &domain.UnavailableError{Code: domain.UnavailableFailed, Reason: "a participant failed; the order was cancelled", OrderID: orderID, XID: tx.XID}
	default:
		log.Warn("order undecided", "status", tx.Status)
		return Placed{}, &domain.UnavailableError{Code: domain.UnavailableUndecided, Reason: "the transaction is not decided yet", OrderID: orderID, XID: tx.XID}
	}
}

func refusalMessage(code string) string {
	switch code {
	case domain.RefusedOutOfStock:
		return "not enough stock for this order"
	case domain.RefusedInsufficientFunds:
		return "the account's balance does not cover this order"
	case domain.RefusedPriceChanged:
		return "the price changed while the order was placed; place it again"
	case domain.RefusedUnknownSKU:
		return "no such SKU"
	case domain.RefusedUnknownAccount:
		return "no account for this user"
	}
	return "refused"
}

func beginRequest(p domain.Placement, cfg Config) (tcc.BeginRequest, error) {
	orderPayload, err := json.Marshal(p)
	if err != nil {
		return tcc.BeginRequest{}, err
	}
	invPayload, err := json.Marshal(struct {
		OrderID   string `json:"order_id"`
		SKU       string `json:"sku"`
		Quantity  int64  `json:"quantity"`
		UnitPrice int64  `json:"unit_price"`
	}{p.OrderID, p.SKU, p.Quantity, p.UnitPrice})
	if err != nil {
		return tcc.BeginRequest{}, err
	}
	payPayload, err := json.Marshal(struct {
		OrderID   string `json:"order_id"`
		AccountID string `json:"account_id"`
		Amount    int64  `json:"amount"`
	}{p.OrderID, p.UserID, p.Amount})
	if err != nil {
		return tcc.BeginRequest{}, err
	}
	return tcc.BeginRequest{
		Branches: []tcc.BranchSpec{
			{Participant: ParticipantOrder, Action: ActionPlace, Payload: orderPayload},
			{Participant: ParticipantInventory, Action: ActionReserve, Payload: invPayload},
			{Participant: ParticipantPayment, Action: ActionCharge, Payload: payPayload},
		},
		TimeoutMS: cfg.TxTimeout.Milliseconds(),
		Wait:      cfg.Wait,
	}, nil
}

// PlaceAction is the order branch: Try writes the PENDING order row, Confirm marks it
// CONFIRMED, Cancel CANCELLED (an empty Cancel, whose Try never ran, writes nothing).
func PlaceAction(st *store.Store) tcc.Action[domain.Placement] {
	return tcc.Action[domain.Placement]{
		Name: ActionPlace,
		Try: func(ctx context.Context, tx *gorm.DB, b tcc.Branch, p domain.Placement) error {
			return st.Insert(ctx, tx, b.XID, p)
		},
		Confirm: func(ctx context.Context, tx *gorm.DB, _ tcc.Branch, p domain.Placement) error {
			return st.Finish(ctx, tx, p.OrderID, domain.StatusConfirmed)
		},
		Cancel: func(ctx context.Context, tx *gorm.DB, _ tcc.Branch, p domain.Placement) error {
			return st.Finish(ctx, tx, p.OrderID, domain.StatusCancelled)
		},
	}
}
