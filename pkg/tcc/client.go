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
	"time"

	"github.com/go-resty/resty/v2"
)

// Client is a typed client of the coordinator's API (DESIGN §7) for services that start
// global transactions. It holds one pooled keep-alive HTTP client and copies the request
// ID and trace context of each call's context (MetaFrom) onto the request. It is safe
// for concurrent use.
type Client struct {
	r *resty.Client
}

// ClientOption configures a Client.
type ClientOption func(*clientOptions)

type clientOptions struct {
	timeout    time.Duration
	adminToken string
	maxIdle    int
	transport  http.RoundTripper
}

// WithTimeout bounds each call (default 60s; a call waiting for completion can take up
// to the transaction's timeout plus the coordinator's completion wait).
func WithTimeout(d time.Duration) ClientOption { return func(o *clientOptions) { o.timeout = d } }

// WithAdminToken sets the Bearer token sent on admin calls (Retry).
func WithAdminToken(t string) ClientOption { return func(o *clientOptions) { o.adminToken = t } }

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

// NewClient returns a client of the coordinator at baseURL (e.g. "http://127.0.0.1:7070").
func NewClient(baseURL string, opts ...ClientOption) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("tcc: bad coordinator URL %q", baseURL)
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
		SetBaseURL(strings.TrimRight(baseURL, "/")).
		SetTransport(rt).
		SetTimeout(o.timeout).
		SetRedirectPolicy(resty.NoRedirectPolicy()).
		SetHeader("Accept", "application/json").
		SetDisableWarn(true).
		OnBeforeRequest(RestyMiddleware)
	if o.adminToken != "" {
		r.SetAuthToken(o.adminToken)
	}
	return &Client{r: r}, nil
}

// Begin starts a global transaction and waits as req.Wait says. With a non-empty
// idempotencyKey, repeating the call (same key, same request) returns the same XID and
// outcome and runs nothing twice. A refused transaction is not an error: its Status is
// CANCELLED and Refusal says why. A *APIError reports everything else; on a timeout or
// transport error the outcome is unknown: repeat with the same idempotency key.
func (c *Client) Begin(ctx context.Context, req BeginRequest, idempotencyKey string) (*Transaction, error) {
	r := c.r.R().SetContext(ctx).SetBody(req).SetHeader("Content-Type", "application/json")
	if idempotencyKey != "" {
		r.SetHeader("Idempotency-Key", idempotencyKey)
	}
	var t Transaction
	if err := c.do(r, http.MethodPost, "/v1/transactions", &t); err != nil {
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
	if err := c.do(c.r.R().SetContext(ctx), http.MethodGet, "/v1/transactions/"+xid, &t); err != nil {
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
	r := c.r.R().SetContext(ctx)
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
	var p TransactionPage
	if err := c.do(r, http.MethodGet, "/v1/transactions", &p); err != nil {
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
	if err := c.do(c.r.R().SetContext(ctx), http.MethodPost, "/v1/transactions/"+xid+"/retry", &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// Close drops the client's idle connections.
func (c *Client) Close() { c.r.GetClient().CloseIdleConnections() }

func (c *Client) do(r *resty.Request, method, path string, out any) error {
	resp, err := r.Execute(method, path)
	if err != nil {
		return fmt.Errorf("tcc: %s %s: %w", method, path, err)
	}
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
