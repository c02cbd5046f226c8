package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// client is the bench's HTTP client to the suite.
type client struct {
	http *http.Client
}

// newClient returns a client with a keep-alive pool sized for concurrency workers.
func newClient(concurrency int) *client {
	return &client{http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: concurrency * 2, MaxIdleConnsPerHost: concurrency * 2, IdleConnTimeout: 90 * time.Second,
	}}}
}

// do sends one request (a JSON body unless nil, the headers hdr) and decodes the
// answer into out unless nil, whatever its status. Status 0 means no HTTP answer.
func (c *client) do(ctx context.Context, method, url string, body []byte, hdr map[string]string, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %d %q", method, url, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, nil
}

// errStatus is an answer other than the one wanted.
var errStatus = errors.New("unexpected status")

// want sends one request like do, and fails unless it is answered with status.
func (c *client) want(ctx context.Context, status int, method, url string, body []byte, hdr map[string]string, out any) error {
	st, err := c.do(ctx, method, url, body, hdr, out)
	if err != nil {
		return err
	}
	if st != status {
		return fmt.Errorf("%w: %s %s answered %d, want %d", errStatus, method, url, st, status)
	}
	return nil
}
