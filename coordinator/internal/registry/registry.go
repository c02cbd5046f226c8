// Package registry knows the participants the operator configured (name → base URL) and
// makes the signed protocol calls to them (docs/design.md §2). A branch names a participant and
// an action, never an address, so no client can make the coordinator call anywhere else;
// redirects are not followed for the same reason.
package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/tccsuite/tccsuite/coordinator/internal/breaker"
	"github.com/tccsuite/tccsuite/internal/textx"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// ParseSpec reads "name=url,name=url".
func ParseSpec(spec string) (map[string]string, error) {
	out := map[string]string{}
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, raw, ok := strings.Cut(part, "=")
		name, raw = strings.TrimSpace(name), strings.TrimSpace(raw)
		if !ok || name == "" || raw == "" {
			return nil, fmt.Errorf("registry: %q is not name=url", part)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("registry: participant %q listed twice", name)
		}
		out[name] = raw
	}
	return out, nil
}

// Options tune every participant's client and breaker.
type Options struct {
	Signer           *tcc.Signer // nil: calls go unsigned (insecure development mode)
	MaxIdlePerHost   int
	BreakerThreshold int
	BreakerCooldown  time.Duration
	OnBreaker        func(participant string, s breaker.State)
	// Transport, if set, carries every participant call instead of the pooled
	// keep-alive http.Transport built per participant (MaxIdlePerHost is then unused).
	// Simulations set it to route calls to in-memory participants.
	Transport http.RoundTripper
}

// Participant is one configured participant with its pooled keep-alive client.
type Participant struct {
	Name    string
	BaseURL *url.URL
	Breaker *breaker.Breaker
	client  *resty.Client
	signer  *tcc.Signer
}

// Registry is the set of configured participants. It is immutable and safe for
// concurrent use.
type Registry struct {
	byName map[string]*Participant
}

// New builds the registry from name → base URL.
func New(urls map[string]string, o Options) (*Registry, error) {
	r := &Registry{byName: map[string]*Participant{}}
	if o.MaxIdlePerHost <= 0 {
		o.MaxIdlePerHost = 256
	}
	for name, raw := range urls {
		if !tcc.ValidID(name) {
			return nil, fmt.Errorf("registry: bad participant name %q", name)
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return nil, fmt.Errorf("registry: participant %q: base URL %q must be http(s)://host[:port][/path]", name, raw)
		}
		u.Path = strings.TrimRight(u.Path, "/")
		var tr http.RoundTripper = &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        o.MaxIdlePerHost,
			MaxIdleConnsPerHost: o.MaxIdlePerHost,
			IdleConnTimeout:     90 * time.Second,
			ForceAttemptHTTP2:   false,
		}
		if o.Transport != nil {
			tr = o.Transport
		}
		c := resty.New().SetTransport(tr).SetRedirectPolicy(resty.NoRedirectPolicy()).
			SetResponseBodyLimit(1 << 20).SetDisableWarn(true)
		p := &Participant{Name: name, BaseURL: u, client: c, signer: o.Signer}
		n := name
		p.Breaker = breaker.New(o.BreakerThreshold, o.BreakerCooldown, func(s breaker.State) {
			if o.OnBreaker != nil {
				o.OnBreaker(n, s)
			}
		})
		r.byName[name] = p
	}
	return r, nil
}

// Get returns the participant named name.
func (r *Registry) Get(name string) (*Participant, bool) {
	p, ok := r.byName[name]
	return p, ok
}

// Close drops idle connections.
func (r *Registry) Close() {
	for _, p := range r.byName {
		p.client.GetClient().CloseIdleConnections()
	}
}

// Call is one protocol call.
type Call struct {
	XID         string
	BranchID    string
	Action      string
	Phase       tcc.Phase
	Payload     []byte
	Deadline    time.Time // sent as X-TCC-Deadline
	RequestID   string
	TraceParent string
	TraceState  string
}

// Result is a participant's answer, classified by status code alone.
type Result struct {
	Class   tcc.StatusClass
	Status  int    // 0 when no answer came
	Code    string // the JSON code of a non-2xx answer, if any
	Message string
	Err     error // transport error or timeout (Class is ClassUnknown)
}

// Error renders the result for last_error.
func (r Result) Error() string {
	if r.Err != nil {
		return r.Err.Error()
	}
	if r.Code != "" {
		return fmt.Sprintf("HTTP %d %s: %s", r.Status, r.Code, r.Message)
	}
	return fmt.Sprintf("HTTP %d", r.Status)
}

// ErrBreakerOpen is the Err of a Try refused locally because the participant's circuit
// breaker is open.
var ErrBreakerOpen = errors.New("registry: circuit breaker open")

// Do makes the call under ctx. A timeout or transport error is ClassUnknown: the
// participant may or may not have applied it.
func (p *Participant) Do(ctx context.Context, c Call) Result {
	path := p.BaseURL.Path + "/tcc/" + c.Action + "/" + string(c.Phase)
	u := *p.BaseURL
	u.Path = path
	req := p.client.R().SetContext(ctx).SetBody(c.Payload)
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set(tcc.HeaderXID, c.XID)
	h.Set(tcc.HeaderBranchID, c.BranchID)
	h.Set(tcc.HeaderDeadline, tcc.FormatDeadline(c.Deadline))
	if c.RequestID != "" {
		h.Set(tcc.HeaderRequestID, c.RequestID)
	}
	if c.TraceParent != "" {
		h.Set(tcc.HeaderTraceParent, c.TraceParent)
	}
	if c.TraceState != "" {
		h.Set(tcc.HeaderTraceState, c.TraceState)
	}
	if p.signer != nil {
		p.signer.Sign(h, http.MethodPost, path, c.Payload, time.Now())
	}
	resp, err := req.Post(u.String())
	if err != nil {
		return Result{Class: tcc.ClassUnknown, Err: err}
	}
	res := Result{Status: resp.StatusCode(), Class: tcc.Classify(resp.StatusCode())}
	if res.Class != tcc.ClassDone {
		var eb tcc.ErrorBody
		if json.Unmarshal(resp.Body(), &eb) == nil {
			res.Code, res.Message = textx.Truncate(eb.Code, 64), textx.Truncate(eb.Message, 256)
		}
	}
	return res
}
