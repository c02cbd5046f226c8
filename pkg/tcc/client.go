package tcc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-resty/resty/v2"
)

// Client is a typed client of the coordinator's API (docs/design.md §7) for services that start
// global transactions. It holds one pooled keep-alive HTTP client and copies the request
// ID and trace context of each call's context (MetaFrom) onto the request. Given several
// coordinators, it spreads calls over them and moves on to the next when one refuses the
// connection or answers 503 NOT_READY: in both cases the call was not taken, so nothing
// can run twice. It is safe for concurrent use.
type Client struct {
	r                     *resty.Client
	timeout               time.Duration
	bases                 []string
	next                  atomic.Uint64
	clientAuth, adminAuth string // Authorization values, or empty
}

// ClientOption configures a Client.
type ClientOption func(*clientOptions)

type clientOptions struct {
	timeout     time.Duration
	adminToken  string
	clientToken string
	maxIdle     int
	transport   http.RoundTripper
}

// WithTimeout bounds each call (default 60s). Begin tells the coordinator how long it
// will wait (HeaderWaitBudget), so the coordinator answers within it, whatever its own
// completion wait.
func WithTimeout(d time.Duration) ClientOption { return func(o *clientOptions) { o.timeout = d } }

// WithAdminToken sets the Bearer token sent on admin calls (Retry), and on the others
// when no client token is set.
func WithAdminToken(t string) ClientOption { return func(o *clientOptions) { o.adminToken = t } }

// WithClientToken sets the Bearer token sent on Begin, Get and List: the coordinator's
// TCC_CLIENT_TOKEN.
func WithClientToken(t string) ClientOption { return func(o *clientOptions) { o.clientToken = t } }

// WithMaxIdleConnsPerHost sizes the keep-alive pool (default 128).
func WithMaxIdleConnsPerHost(n int) ClientOption { return func(o *clientOptions) { o.maxIdle = n } }

// WithTransport replaces the HTTP transport (tests, custom TLS).
func WithTransport(rt http.RoundTripper) ClientOption {
	return func(o *clientOptions) { o.transport = rt }
}

// APIError is a non-2xx answer of the coordinator. XID is set when the coordinator named
// the transaction concerned (header X-TCC-XID), e.g. a 409 LOCKED or a 503 UNDECIDED.
type APIError struct {
	Status  int
	Code    string
	Message string
	XID     string
	// RetryAfter is the server's Retry-After hint, zero if none.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	return fmt.Sprintf("tcc: coordinator answered %d %s: %s", e.Status, e.Code, e.Message)
}

// NewClient returns a client of the coordinator at baseURL (e.g. "http://127.0.0.1:7070"),
// or of several coordinators given as a comma-separated list of base URLs.
func NewClient(baseURL string, opts ...ClientOption) (*Client, error) {
	var bases []string
	for _, b := range strings.Split(baseURL, ",") {
		b = strings.TrimRight(strings.TrimSpace(b), "/")
		u, err := url.Parse(b)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("tcc: bad coordinator URL %q", b)
		}
		bases = append(bases, b)
	}
	o := clientOptions{timeout: 60 * time.Second, maxIdle: 128}
	for _, f := range opts {
		f(&o)
	}
	rt := o.transport
	if rt == nil {
		rt = &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        o.maxIdle,
			MaxIdleConnsPerHost: o.maxIdle,
			IdleConnTimeout:     90 * time.Second,
		}
	}
	r := resty.New().
		SetTransport(rt).
		SetTimeout(o.timeout).
		SetRedirectPolicy(resty.NoRedirectPolicy()).
		SetHeader("Accept", "application/json").
		SetDisableWarn(true).
		OnBeforeRequest(RestyMiddleware)
	c := &Client{r: r, timeout: o.timeout, bases: bases}
	if o.adminToken != "" {
		c.adminAuth = "Bearer " + o.adminToken
	}
	c.clientAuth = c.adminAuth
	if o.clientToken != "" {
		c.clientAuth = "Bearer " + o.clientToken
	}
	if c.adminAuth == "" {
		c.adminAuth = c.clientAuth
	}
	return c, nil
}

// HeaderWaitBudget is the header that, on a begin call, says how long the caller waits
// for the answer, in milliseconds. The coordinator waits no longer than that for the
// decision or completion (it answers what it has then: 503 UNDECIDED, or 202 with the
// transaction not yet complete), so a caller never gives up on an answer under way.
const HeaderWaitBudget = "X-TCC-Wait-Budget"

// waitBudget is what Begin announces in HeaderWaitBudget: the call's remaining time (the
// earlier of ctx's deadline and the client's timeout, a timeout <= 0 being none) less a
// margin for the answer's way back of a tenth of it, within [20ms, 1s]; at least 1ms.
// ok is false when the call is unbounded: Begin then announces nothing.
func (c *Client) waitBudget(ctx context.Context) (budget time.Duration, ok bool) {
	left, bounded := c.timeout, c.timeout > 0
	if dl, has := ctx.Deadline(); has {
		if d := time.Until(dl); !bounded || d < left {
			left, bounded = d, true
		}
	}
	if !bounded {
		return 0, false
	}
	return max(left-min(max(left/10, 20*time.Millisecond), time.Second), time.Millisecond), true
}

// Begin starts a global transaction and waits as req.Wait says, within the call's
// budget (ctx's deadline and the client's timeout), which it tells the coordinator
// (HeaderWaitBudget). With a non-empty idempotencyKey, repeating the call (same key,
// same request) returns the same XID and outcome and runs nothing twice. A refused
// transaction is not an error: its Status is CANCELLED and Refusal says why. A *APIError
// reports everything else; on a timeout or transport error the outcome is unknown:
// repeat with the same idempotency key.
func (c *Client) Begin(ctx context.Context, req BeginRequest, idempotencyKey string) (*Transaction, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("tcc: begin: %w", err)
	}
	build := func() *resty.Request {
		r := c.req(ctx, false).SetBody(body).SetHeader("Content-Type", "application/json")
		if budget, ok := c.waitBudget(ctx); ok {
			r.SetHeader(HeaderWaitBudget, strconv.FormatInt(budget.Milliseconds(), 10))
		}
		if idempotencyKey != "" {
			r.SetHeader("Idempotency-Key", idempotencyKey)
		}
		return r
	}
	var t Transaction
	if err := c.do(build, http.MethodPost, "/v1/transactions", &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// Get returns one transaction.
func (c *Client) Get(ctx context.Context, xid string) (*Transaction, error) {
	if !ValidID(xid) {
		return nil, fmt.Errorf("tcc: bad XID %q", xid)
	}
	var t Transaction
	if err := c.do(func() *resty.Request { return c.req(ctx, false) }, http.MethodGet, "/v1/transactions/"+xid, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// ListOptions filters List. Zero values mean "any" / the server's default.
type ListOptions struct {
	Status    TxStatus
	Attention *bool
	Limit     int
	After     string // the Next cursor of the previous page
}

// List returns one page of transactions in creation order.
func (c *Client) List(ctx context.Context, opt ListOptions) (*TransactionPage, error) {
	build := func() *resty.Request {
		r := c.req(ctx, false)
		if opt.Status != "" {
			r.SetQueryParam("status", string(opt.Status))
		}
		if opt.Attention != nil {
			r.SetQueryParam("attention", strconv.FormatBool(*opt.Attention))
		}
		if opt.Limit > 0 {
			r.SetQueryParam("limit", strconv.Itoa(opt.Limit))
		}
		if opt.After != "" {
			r.SetQueryParam("after", opt.After)
		}
		return r
	}
	var p TransactionPage
	if err := c.do(build, http.MethodGet, "/v1/transactions", &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Retry asks the coordinator to drive an unfinished transaction again now (admin).
func (c *Client) Retry(ctx context.Context, xid string) (*Transaction, error) {
	if !ValidID(xid) {
		return nil, fmt.Errorf("tcc: bad XID %q", xid)
	}
	var t Transaction
	if err := c.do(func() *resty.Request { return c.req(ctx, true) }, http.MethodPost, "/v1/transactions/"+xid+"/retry", &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// req starts a request under ctx with the client's (or, for admin calls, the admin)
// credentials.
func (c *Client) req(ctx context.Context, admin bool) *resty.Request {
	r := c.r.R().SetContext(ctx)
	auth := c.clientAuth
	if admin {
		auth = c.adminAuth
	}
	if auth != "" {
		r.SetHeader("Authorization", auth)
	}
	return r
}

// Close drops the client's idle connections.
func (c *Client) Close() { c.r.GetClient().CloseIdleConnections() }

// do runs one call, starting at the next coordinator in turn and moving on while one
// provably did not take the call (connection refused, 503 NOT_READY).
func (c *Client) do(build func() *resty.Request, method, path string, out any) error {
	// The turn counter wraps around; reducing it modulo the number of coordinators in
	// uint64 keeps the index in range on every platform.
	start := c.next.Add(1) % uint64(len(c.bases))
	var err error
	for i := range c.bases {
		last := i == len(c.bases)-1
		var resp *resty.Response
		resp, err = build().Execute(method, c.bases[(start+uint64(i))%uint64(len(c.bases))]+path)
		if err != nil {
			err = fmt.Errorf("tcc: %s %s: %w", method, path, err)
			var op *net.OpError
			if !last && errors.As(err, &op) && op.Op == "dial" {
				continue
			}
			return err
		}
		err = answer(resp, out)
		if !last && IsAPIError(err, "NOT_READY") {
			continue
		}
		return err
	}
	return err
}

// answer decodes a 2xx answer into out, or returns the *APIError of another.
func answer(resp *resty.Response, out any) error {
	method, path := resp.Request.Method, resp.Request.RawRequest.URL.Path
	body := resp.Body()
	if resp.IsSuccess() {
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("tcc: %s %s: bad answer: %w", method, path, err)
		}
		return nil
	}
	ae := &APIError{Status: resp.StatusCode(), XID: resp.Header().Get(HeaderXID)}
	var eb ErrorBody
	if json.Unmarshal(body, &eb) == nil {
		ae.Code, ae.Message = eb.Code, eb.Message
	}
	if ae.Code == "" {
		ae.Code = http.StatusText(ae.Status)
	}
	if s, err := strconv.Atoi(resp.Header().Get("Retry-After")); err == nil && s >= 0 {
		ae.RetryAfter = time.Duration(s) * time.Second
	}
	return ae
}

// IsAPIError reports whether err is an *APIError with the given code.
func IsAPIError(err error, code string) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == code
}
