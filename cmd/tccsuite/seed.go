package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// The demo data: created if missing, never reset (a restart keeps its state).
var (
	demoStock = []struct {
		sku              string
		price, available int64
	}{{"WIDGET", 1999, 1000}, {"GADGET", 4999, 200}, {"GIZMO", 999, 50}}
	demoAccounts = []struct {
		id      string
		balance int64
	}{{"alice", 1_000_000}, {"bob", 1_000_000}, {"carol", 5_000}}
)

// seed creates the demo stock and accounts that are missing, through the admin API
// with token. It is idempotent: what exists is left as it is.
func seed(ctx context.Context, invURL, payURL, token string) error {
	client := &http.Client{Timeout: 10 * time.Second}
	for _, s := range demoStock {
		if err := putIfMissing(ctx, client, fmt.Sprintf("%s/api/v1/stock/%s", invURL, s.sku), fmt.Sprintf(`{"price":%d,"available":%d}`, s.price, s.available), token); err != nil {
			return err
		}
	}
	for _, a := range demoAccounts {
		if err := putIfMissing(ctx, client, fmt.Sprintf("%s/api/v1/accounts/%s", payURL, a.id), fmt.Sprintf(`{"balance":%d}`, a.balance), token); err != nil {
			return err
		}
	}
	return nil
}

// putIfMissing PUTs body to url with the admin token unless a GET of url answers 200.
func putIfMissing(ctx context.Context, client *http.Client, url, body, token string) error {
	switch err := getOK(ctx, client, url); {
	case err == nil:
		return nil // already there
	case !errors.Is(err, errNotOK):
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("PUT %s: %d %s", url, resp.StatusCode, b)
	}
	return nil
}
