package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// waitReady waits until every component's /readyz answers 200 (the coordinator's once
// its etcd session is live), for at most a minute.
func waitReady(ctx context.Context, urls map[string]string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	client := &http.Client{Timeout: 5 * time.Second}
	for name, u := range urls {
		for wait := 20 * time.Millisecond; ; wait = min(wait*2, 500*time.Millisecond) {
			err := getOK(ctx, client, u+"/readyz")
			if err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s (%s) not ready: %w", name, u, errors.Join(ctx.Err(), err))
			case <-time.After(wait):
			}
		}
	}
	return nil
}

// errNotOK is an answer other than 200.
var errNotOK = errors.New("not 200")

// getOK GETs url once: nil on a 200, errNotOK on another answer.
func getOK(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: %s", errNotOK, resp.Status)
	}
	return nil
}
