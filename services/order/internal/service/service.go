// Package service is the order service's application layer: placing an order (pricing
// from the catalogue, one global transaction over the order, inventory and payment
// branches, idempotent replays). The order branch's TCC action is in tccaction.
package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tccsuite/tccsuite/internal/dbx"
	"github.com/tccsuite/tccsuite/pkg/tcc"
	"github.com/tccsuite/tccsuite/services/order/internal/domain"
	"github.com/tccsuite/tccsuite/services/order/internal/store"
	"github.com/tccsuite/tccsuite/services/order/internal/tccaction"
)

// Coordinator begins global transactions (tcc.Client in production).
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
	ActionPlace          = tccaction.NamePlace
	ActionReserve        = "reserve"
	ActionCharge         = "charge"
)

// Config tunes the service.
type Config struct {
	// TxTimeout is the global transaction's deadline (timeout_ms); every other wait of an
	// order derives from it (BudgetsFor).
	TxTimeout time.Duration
	// Wait is tcc.WaitCompletion (answer once every branch confirmed: reads after the
	// answer see the final state) or tcc.WaitDecision (answer as soon as the decision is
	// durable: faster, the order may read PENDING for a moment).
	Wait string
}

// Budgets are the waiting times of one POST /api/v1/orders. They all derive from the
// transaction timeout T (ORDER_TX_TIMEOUT) and nest, each wait outlasting the one it
// contains by a margin, so that whoever waits longer always hears the answer of whoever
// waits less (client ⊃ order ⊃ coordinator ⊃ participant):
//
//   - a participant's Try runs within the transaction's deadline T: the coordinator
//     decides by then, cancelling a Try still running;
//   - the order calls the coordinator for at most Coordinator = 2T + 1s, and tcc.Client
//     tells the coordinator that budget less a margin of a tenth (at most 1s) in the
//     begin call (tcc.HeaderWaitBudget): 10s of 11s for T = 5s. The coordinator caps its
//     own wait (the decision by T, then up to its TCC_COMPLETION_WAIT for completion)
//     with it and answers the state it has then, so it answers before the order gives
//     up however it is configured. The order does not rely on the coordinator's
//     settings: a coordinator that ignores the budget and outwaits it makes the order
//     answer 503 (outcome unknown, retry with the same Idempotency-Key), never a guess;
//   - before that, each catalogue or account look-up takes at most Lookup = T within
//     [500ms, 3s]; after it, recording the outcome takes at most Record = 2s;
//   - so the order answers within Request = 2·Lookup + Coordinator + Record: 19s for
//     T = 5s, 4.2s for T = 100ms. A client should wait longer (Request + 1s); one that
//     gives up sooner loses nothing: the order goes on without it, and a retry with the
//     same Idempotency-Key learns the outcome.
type Budgets struct {
	Lookup      time.Duration
	Coordinator time.Duration
	Record      time.Duration
	Request     time.Duration
}

// BudgetsFor returns the budgets of the transaction timeout txTimeout.
func BudgetsFor(txTimeout time.Duration) Budgets {
	b := Budgets{Lookup: min(max(txTimeout, 500*time.Millisecond), 3*time.Second), Coordinator: 2*txTimeout + time.Second,
		Record: 2 * time.Second}
	b.Request = 2*b.Lookup + b.Coordinator + b.Record
	return b
}

// Service places orders.
type Service struct {
	cfg       Config
	budgets   Budgets
	store     *store.Store
	coord     Coordinator
	catalogue Catalogue
	accounts  Accounts
	log       *slog.Logger

	mu      sync.Mutex
	flights map[string]*flight
	onJoin  func() // tests: called when a request joins an in-flight duplicate
	// joinAnyBody, tests only (never set otherwise): a concurrent request with the same
	// key joins the in-flight one whatever its body, as the single flight did before it
	// compared fingerprints (the old bug: it got the first request's 201). The history
	// checker's test builds that broken variant to show it catches it.
	joinAnyBody bool
}

// New returns a Service.
func New(cfg Config, st *store.Store, coord Coordinator, cat Catalogue, acc Accounts, log *slog.Logger) *Service {
	return &Service{cfg: cfg, budgets: BudgetsFor(cfg.TxTimeout), store: st, coord: coord, catalogue: cat, accounts: acc, log: log,
		flights: map[string]*flight{}}
}

// Placed is a confirmed order as POST answers it.
type Placed struct {
	OrderID string
	XID     string
	Amount  int64
}

// flight is a keyed placement in progress in this process; fingerprint is its body's.
type flight struct {
	fingerprint string
	done        chan struct{}
	res         Placed
	err         error
}

// Place places an order and waits for its global transaction to be decided (or
// completed, per Config.Wait), within Budgets.Request. It returns the confirmed order,
// or:
//   - domain.ErrInvalid, ErrUnknownSKU, ErrUnknownUser, ErrAmountOverflow: nothing was
//     started;
//   - domain.ErrKeyReused: the key was used for another request body, before or
//     concurrently;
//   - *domain.RefusedError: a participant refused; the order is CANCELLED, nothing held;
//   - *domain.UnavailableError: not decided for now, or a dependency (coordinator, order
//     database, look-up) unavailable; retry, with the same key to be sure not to order
//     twice.
//
// With an idempotency key, any number of calls, concurrent or not, on any number of
// instances, place at most one order: the first claims the key with its priced
// placement, and every retry begins exactly that placement again (never re-priced), so
// the coordinator's idempotency joins them to one transaction. Once it is decided they
// all answer the same. Once the key is claimed the transaction is begun even if the
// client hangs up: the order waits for the coordinator on its own budget and records
// the outcome for the retry.
func (s *Service) Place(ctx context.Context, req domain.PlaceRequest, key string) (Placed, error) {
	if err := req.Validate(); err != nil {
		return Placed{}, err
	}
	if key == "" {
		p, err := s.price(ctx, req, domain.NewOrderID())
		if err != nil {
			return Placed{}, err
		}
		return s.begin(ctx, p, s.cfg.TxTimeout.Milliseconds())
	}
	// Concurrent duplicates in this process share one execution; a concurrent request
	// with another body does not join it: the key's claim in the database decides
	// between them as it does between instances (the loser gets ErrKeyReused).
	fp := req.Fingerprint()
	for {
		s.mu.Lock()
		f, ok := s.flights[key]
		if !ok {
			break // s.mu held: this request leads
		}
		s.mu.Unlock()
		if f.fingerprint != fp && !s.joinAnyBody {
			return s.placeKeyed(ctx, req, key, fp)
		}
		if s.onJoin != nil {
			s.onJoin()
		}
		select {
		case <-f.done:
		case <-ctx.Done():
			return Placed{}, &domain.UnavailableError{Code: domain.UnavailableDependency, Reason: "request ended while a duplicate was in flight", Err: ctx.Err()}
		}
		if errors.Is(f.err, context.Canceled) && ctx.Err() == nil {
			// The leader's client hung up before the outcome was known: that is its
			// answer, not this request's. Go again (the key's claim makes it a replay).
			continue
		}
		return f.res, f.err
	}
	f := &flight{fingerprint: fp, done: make(chan struct{})}
	s.flights[key] = f
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.flights, key)
		s.mu.Unlock()
		close(f.done)
	}()
	f.res, f.err = s.placeKeyed(ctx, req, key, fp)
	return f.res, f.err
}

func (s *Service) placeKeyed(ctx context.Context, req domain.PlaceRequest, key, fp string) (Placed, error) {
	lctx, cancel := context.WithTimeout(ctx, 2*s.budgets.Lookup)
	defer cancel()
	rec, found, err := s.store.Lookup(lctx, key)
	if err != nil {
		return Placed{}, storeError(err)
	}
	if !found {
		// A new key: price it, then claim it with the placement. A concurrent claimant
		// may win the claim: its placement is then the one begun.
		p, err := s.price(lctx, req, domain.NewOrderID())
		if err != nil {
			return Placed{}, err
		}
		rec, err = s.store.Claim(lctx, store.IdemRecord{Key: key, Fingerprint: fp, OrderID: p.OrderID, UnitPrice: p.UnitPrice,
			Amount: p.Amount, TimeoutMS: s.cfg.TxTimeout.Milliseconds()})
		if err != nil {
			return Placed{}, storeError(err)
		}
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
	p := domain.Placement{OrderID: rec.OrderID, UserID: req.UserID, SKU: req.SKU, Quantity: req.Quantity,
		UnitPrice: rec.UnitPrice, Amount: rec.Amount}
	timeoutMS := rec.TimeoutMS
	if !rec.Priced() {
		// Claimed by a version that did not store the placement: price it as it did.
		if p, err = s.price(lctx, req, rec.OrderID); err != nil {
			return Placed{}, err
		}
		timeoutMS = s.cfg.TxTimeout.Milliseconds()
	}
	res, err := s.begin(ctx, p, timeoutMS)
	rctx, cancelRecord := context.WithTimeout(context.WithoutCancel(ctx), s.budgets.Record)
	defer cancelRecord()
	var refused *domain.RefusedError
	var unavailable *domain.UnavailableError
	switch {
	case err == nil:
		rec.XID, rec.Amount, rec.Outcome = res.XID, res.Amount, domain.OutcomeConfirmed
	case errors.As(err, &refused):
		rec.XID, rec.Outcome, rec.Message = refused.XID, domain.Outcome(refused.Code), refused.Message
	case errors.As(err, &unavailable) && unavailable.Code == domain.UnavailableFailed:
		// A technical failure cancelled the order for good: nothing is held, and a retry
		// with this key may place a fresh one. Should the key stay (database down), a
		// retry begins the same placement, gets the same cancelled transaction and
		// releases the key then.
		if ferr := s.store.Forget(rctx, key, rec.OrderID); ferr != nil {
			s.log.Warn("order: could not release an idempotency key", "key", key, "err", ferr)
		}
		return res, err
	default:
		return res, err
	}
	if derr := s.store.Decide(rctx, rec); derr != nil {
		// The outcome stands; a replay begins the stored placement again and the
		// coordinator answers the same transaction.
		s.log.Warn("order: could not record an idempotent outcome", "key", key, "err", derr)
	}
	return res, err
}

// storeError makes an order-database failure that may pass (unreachable, gone away,
// busy, timed out) an *domain.UnavailableError: 503 with Retry-After, never 500.
func storeError(err error) error {
	if dbx.IsTransient(err) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return &domain.UnavailableError{Code: domain.UnavailableDependency, Reason: "the order database is unavailable", Err: err}
	}
	return err
}

// price looks up the unit price and the user's account and returns the placement of req
// as orderID. Nothing is written.
func (s *Service) price(ctx context.Context, req domain.PlaceRequest, orderID string) (domain.Placement, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*s.budgets.Lookup)
	defer cancel()
	price, err := s.catalogue.Price(ctx, req.SKU)
	if err != nil {
		if errors.Is(err, domain.ErrUnknownSKU) {
			return domain.Placement{}, err
		}
		return domain.Placement{}, &domain.UnavailableError{Code: domain.UnavailableDependency, Reason: "the catalogue is unavailable", Err: err}
	}
	amount, err := domain.Amount(price, req.Quantity)
	if err != nil {
		return domain.Placement{}, err
	}
	if err := s.accounts.Check(ctx, req.UserID); err != nil {
		if errors.Is(err, domain.ErrUnknownUser) {
			return domain.Placement{}, err
		}
		return domain.Placement{}, &domain.UnavailableError{Code: domain.UnavailableDependency, Reason: "the payment service is unavailable", Err: err}
	}
	return domain.Placement{OrderID: orderID, UserID: req.UserID, SKU: req.SKU, Quantity: req.Quantity, UnitPrice: price, Amount: amount}, nil
}

// begin runs the global transaction of placement p with timeoutMS and maps its outcome.
// The call waits at most Budgets.Coordinator, whether or not the client is still there.
func (s *Service) begin(ctx context.Context, p domain.Placement, timeoutMS int64) (Placed, error) {
	orderID := p.OrderID
	begin, err := beginRequest(p, timeoutMS, s.cfg.Wait)
	if err != nil {
		return Placed{}, err
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.budgets.Coordinator)
	defer cancel()
	// The coordinator's idempotency key is the order ID: a duplicate that reached this
	// point with the same claimed order ID (and so the same stored placement) gets the
	// same transaction.
	tx, err := s.coord.Begin(cctx, begin, "order:"+orderID)
	if err != nil {
		var ae *tcc.APIError
		if errors.As(err, &ae) && ae.XID != "" {
			return Placed{}, &domain.UnavailableError{Code: domain.UnavailableUndecided, Reason: "the transaction is not decided yet", OrderID: orderID, XID: ae.XID, Err: err}
		}
		return Placed{}, &domain.UnavailableError{Code: domain.UnavailableDependency, Reason: "the coordinator did not answer in time or is unavailable; the outcome is unknown", OrderID: orderID, Err: err}
	}
	log := s.log.With("xid", tx.XID, "order_id", orderID, "request_id", tcc.MetaFrom(ctx).RequestID)
	switch tx.Status {
	case tcc.TxConfirmed, tcc.TxConfirming:
		log.Debug("order confirmed", "status", tx.Status)
		return Placed{OrderID: orderID, XID: tx.XID, Amount: p.Amount}, nil
	case tcc.TxCancelled, tcc.TxCancelling:
		// The order's Try may never have committed (cancelled in flight when another
		// branch refused first): record the order as CANCELLED so it can be read back.
		rctx, cancelRecord := context.WithTimeout(context.WithoutCancel(ctx), s.budgets.Record)
		defer cancelRecord()
		if err := s.store.RecordCancelled(rctx, tx.XID, p); err != nil {
			log.Warn("order: could not record the cancelled order", "err", err)
		}
		if r := tx.Refusal; r != nil {
			switch r.Code {
			case domain.RefusedOutOfStock, domain.RefusedInsufficientFunds, domain.RefusedPriceChanged,
				domain.RefusedUnknownSKU, domain.RefusedUnknownAccount:
				if r.Code == domain.RefusedPriceChanged || r.Code == domain.RefusedUnknownSKU {
					s.catalogue.Forget(p.SKU)
				}
				log.Info("order refused", "code", r.Code, "participant", r.Participant)
				return Placed{}, &domain.RefusedError{Code: r.Code, Message: refusalMessage(r.Code), OrderID: orderID, XID: tx.XID}
			}
		}
		log.Warn("order cancelled by a technical failure", "refusal", tx.Refusal)
		return Placed{}, &domain.UnavailableError{Code: domain.UnavailableFailed, Reason: "a participant failed; the order was cancelled and nothing is held", OrderID: orderID, XID: tx.XID}
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

// beginRequest is the transaction of placement p. It is a function of its arguments
// only: the same stored placement and timeout give the same request, which the
// coordinator's idempotency requires of a retry.
func beginRequest(p domain.Placement, timeoutMS int64, wait string) (tcc.BeginRequest, error) {
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
		TimeoutMS: timeoutMS,
		Wait:      wait,
	}, nil
}
