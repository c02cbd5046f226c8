// Package adapters holds the order service's outgoing look-ups: the inventory catalogue
// (prices) and the payment service (account existence). The coordinator is called
// through tcc.Client. Each is one pooled keep-alive resty client, created once, that
// propagates the request ID and trace context.
package adapters

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/tccsuite/tccsuite/pkg/tcc"
	"github.com/tccsuite/tccsuite/services/order/internal/domain"
)

// NewHTTPClient returns a resty client for baseURL with a keep-alive pool sized for
// concurrency and header propagation.
func NewHTTPClient(baseURL string, timeout time.Duration) *resty.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        512,
		MaxIdleConnsPerHost: 512,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   false,
	}
	c := resty.New().SetBaseURL(baseURL).SetTransport(tr).SetTimeout(timeout)
	c.OnBeforeRequest(tcc.RestyMiddleware)
	return c
}

// APIError is a non-2xx answer of a service or coordinator.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Code, e.Message)
}

// Catalogue reads unit prices from the inventory, caching each for ttl (0: no cache).
// A stale price is harmless: the inventory's Try refuses PRICE_CHANGED, and the caller
// then drops the entry with Forget.
type Catalogue struct {
	c   *resty.Client
	ttl time.Duration

	mu    sync.Mutex
	cache map[string]priceEntry
}

type priceEntry struct {
	price   int64
	expires time.Time
}

const maxCacheEntries = 100_000

// NewCatalogue returns a catalogue over the inventory at baseURL.
func NewCatalogue(baseURL string, ttl, timeout time.Duration) *Catalogue {
	return &Catalogue{c: NewHTTPClient(baseURL, timeout), ttl: ttl, cache: map[string]priceEntry{}}
}

// Price returns the unit price of sku, domain.ErrUnknownSKU, or a transport error.
func (k *Catalogue) Price(ctx context.Context, sku string) (int64, error) {
	now := time.Now()
	if k.ttl > 0 {
		k.mu.Lock()
		e, ok := k.cache[sku]
		k.mu.Unlock()
		if ok && now.Before(e.expires) {
			return e.price, nil
		}
	}
	var item struct {
		Price *int64 `json:"price"`
	}
	resp, err := k.c.R().SetContext(ctx).Get("/api/v1/stock/" + url.PathEscape(sku))
	if err != nil {
		return 0, fmt.Errorf("catalogue: %w", err)
	}
	switch resp.StatusCode() {
	case http.StatusOK:
	case http.StatusNotFound:
		return 0, fmt.Errorf("catalogue %s: %w", sku, domain.ErrUnknownSKU)
	default:
		return 0, &APIError{Status: resp.StatusCode(), Message: "catalogue look-up failed"}
	}
	if err := json.Unmarshal(resp.Body(), &item); err != nil || item.Price == nil {
		return 0, fmt.Errorf("catalogue %s: bad answer", sku)
	}
	if k.ttl > 0 {
		k.mu.Lock()
		if len(k.cache) >= maxCacheEntries {
			clear(k.cache)
		}
		k.cache[sku] = priceEntry{price: *item.Price, expires: now.Add(k.ttl)}
		k.mu.Unlock()
	}
	return *item.Price, nil
}

// Close releases the catalogue's idle connections.
func (k *Catalogue) Close() { k.c.GetClient().CloseIdleConnections() }

// Forget drops sku's cached price.
func (k *Catalogue) Forget(sku string) {
	k.mu.Lock()
	delete(k.cache, sku)
	k.mu.Unlock()
}

// Accounts tells whether a user has an account in the payment service. Accounts are
// never deleted, so a positive answer is cached for good (bounded); a negative one is
// not cached.
type Accounts struct {
	c *resty.Client

	mu    sync.Mutex
	known map[string]struct{}
}

// NewAccounts returns an account checker over the payment service at baseURL.
func NewAccounts(baseURL string, timeout time.Duration) *Accounts {
	return &Accounts{c: NewHTTPClient(baseURL, timeout), known: map[string]struct{}{}}
}

// Close releases the checker's idle connections.
func (k *Accounts) Close() { k.c.GetClient().CloseIdleConnections() }

// Check returns nil if userID has an account, domain.ErrUnknownUser if not, or a
// transport error.
func (k *Accounts) Check(ctx context.Context, userID string) error {
	k.mu.Lock()
	_, ok := k.known[userID]
	k.mu.Unlock()
	if ok {
		return nil
	}
	resp, err := k.c.R().SetContext(ctx).Get("/api/v1/accounts/" + url.PathEscape(userID))
	if err != nil {
		return fmt.Errorf("accounts: %w", err)
	}
	switch resp.StatusCode() {
	case http.StatusOK:
	case http.StatusNotFound:
		return fmt.Errorf("account %s: %w", userID, domain.ErrUnknownUser)
	default:
		return &APIError{Status: resp.StatusCode(), Message: "account look-up failed"}
	}
	k.mu.Lock()
	if len(k.known) >= maxCacheEntries {
		clear(k.known)
	}
	k.known[userID] = struct{}{}
	k.mu.Unlock()
	return nil
}
