package app

import (
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/tccsuite/tccsuite/internal/conf"
	"github.com/tccsuite/tccsuite/pkg/tcc"
	"github.com/tccsuite/tccsuite/services/internal/platform"
)

// Config is the order service's configuration. The tags declare each variable;
// services/README.md's tables are generated from them (go generate ./internal/conf/confdocs).
type Config struct {
	Addr             string `env:"ORDER_ADDR" envDefault:":8080" desc:"listen address"`
	platform.Common  `envPrefix:"ORDER_"`
	CoordinatorURL   string `env:"ORDER_COORDINATOR_URL" envDefault:"http://127.0.0.1:7070" desc:"the coordinator, or several, comma-separated: calls are spread over them and skip one that refuses the connection or is not ready (nothing was taken there, so nothing runs twice)"`
	CoordinatorToken string `env:"ORDER_COORDINATOR_TOKEN,secret" desc:"the coordinator’s 'TCC_CLIENT_TOKEN', sent on every coordinator call"`
	InventoryURL     string `env:"ORDER_INVENTORY_URL" envDefault:"http://127.0.0.1:8081" desc:"catalogue look-ups (prices)"`
	PaymentURL       string `env:"ORDER_PAYMENT_URL" envDefault:"http://127.0.0.1:8082" desc:"account look-ups (unknown user → 422 before any transaction)"`
	// AccountCheck off: the payment Try refuses an unknown user instead, and the order
	// service never calls the payment service.
	AccountCheck bool `env:"ORDER_ACCOUNT_CHECK" envDefault:"true" desc:"look the account up first; 'false': never call the payment service (for a network that admits only coordinators to it), an unknown user is then refused by the payment Try with the same 422 and the order recorded CANCELLED"`
	// TxTimeout: every wait of an order derives from it (service.BudgetsFor).
	TxTimeout time.Duration `env:"ORDER_TX_TIMEOUT" envDefault:"5s" desc:"the global transaction’s deadline 'T'; every other wait of an order derives from it (see *Timeouts nest* below): a 'POST /api/v1/orders' answers within '2·min(max(T, 500ms), 3s) + 2T + 3s' (19 s by default)"`
	Wait      string        `env:"ORDER_WAIT" envDefault:"completion" desc:"'completion': answer once every branch is confirmed or cancelled (a GET right after sees the final state); 'decision': answer once the decision is durable (faster; the order may read PENDING for a moment)"`
	RateLimit float64       `env:"ORDER_RATE_LIMIT" envDefault:"10000" desc:"sustained 'POST /api/v1/orders' per second (token bucket, per instance); '0' disables"`
	RateBurst int           `env:"ORDER_RATE_BURST" envDefault:"1000" desc:"the bucket’s size"`
	// PriceCacheTTL 0 disables the cache.
	PriceCacheTTL time.Duration `env:"ORDER_PRICE_CACHE_TTL" envDefault:"1s" desc:"how long a catalogue price is reused ('0' disables); a stale price only costs a '409 PRICE_CHANGED', after which the entry is dropped"`
	// IdempotencyRetention zero means the default; IdempotencyPurgeInterval 0 disables the purge.
	IdempotencyRetention     time.Duration `env:"ORDER_IDEMPOTENCY_RETENTION" envDefault:"168h" desc:"how long an 'Idempotency-Key' is remembered (at least '1h'); a retry after that may place a new order"`
	IdempotencyPurgeInterval time.Duration `env:"ORDER_IDEMPOTENCY_PURGE_INTERVAL" envDefault:"1h" desc:"time between purges of older keys ('0' disables)"`
	// Listener, when set, is served instead of listening on Addr (tests, quick start).
	Listener net.Listener
}

// ConfigFromEnv reads the configuration through getenv (os.Getenv in main), each
// variable once, and validates it; every problem is reported.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	return platform.LoadConfig[Config](getenv)
}

// Validate reports every problem of the configuration.
func (c Config) Validate() error {
	var p conf.Problems
	p.Add(c.ValidateServer("ORDER_", c.Addr, c.Listener))
	// ORDER_COORDINATOR_URL may list several coordinators, comma-separated (tcc.NewClient
	// spreads the calls and skips one that is down).
	urls := map[string][]string{"ORDER_COORDINATOR_URL": strings.Split(c.CoordinatorURL, ","), "ORDER_INVENTORY_URL": {c.InventoryURL}}
	if c.AccountCheck {
		urls["ORDER_PAYMENT_URL"] = []string{c.PaymentURL}
	}
	for name, us := range urls {
		for _, u := range us {
			pu, err := url.Parse(strings.TrimSpace(u))
			p.Check(err == nil && (pu.Scheme == "http" || pu.Scheme == "https") && pu.Host != "", "%s must be an http(s) URL, got %q", name, u)
		}
	}
	p.Check(c.IdempotencyRetention == 0 || c.IdempotencyRetention >= time.Hour, "ORDER_IDEMPOTENCY_RETENTION must be at least 1h")
	p.Check(c.IdempotencyPurgeInterval >= 0, "ORDER_IDEMPOTENCY_PURGE_INTERVAL must not be negative (0 disables the purge)")
	p.Check(c.TxTimeout >= 100*time.Millisecond && c.TxTimeout <= 5*time.Minute, "ORDER_TX_TIMEOUT must be in 100ms..5m")
	p.Check(c.Wait == tcc.WaitCompletion || c.Wait == tcc.WaitDecision, "ORDER_WAIT must be %q or %q", tcc.WaitCompletion, tcc.WaitDecision)
	p.Check(c.RateLimit >= 0, "ORDER_RATE_LIMIT must not be negative")
	p.Check(c.RateLimit <= 0 || c.RateBurst >= 1, "ORDER_RATE_BURST must be at least 1")
	p.Check(c.PriceCacheTTL >= 0 && c.PriceCacheTTL <= time.Minute, "ORDER_PRICE_CACHE_TTL must be in 0..1m")
	return p.Err()
}
