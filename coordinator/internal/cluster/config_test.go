package cluster

import (
	"strings"
	"testing"
	"time"
)

// testConfig is DefaultConfig for one test instance on endpoint.
func testConfig(endpoint, name string, ttl time.Duration) Config {
	c := DefaultConfig()
	c.Endpoints, c.Instance, c.Advertise, c.TTL = []string{endpoint}, name, "127.0.0.1:1", ttl
	return c
}

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig()
	ok.Instance = "c1"
	if err := ok.Validate(); err != nil {
		t.Fatalf("the defaults with an instance name are refused: %v", err)
	}
	cases := []struct {
		name   string
		change func(*Config)
		field  string // named by the error
	}{
		{"no instance", func(c *Config) { c.Instance = "" }, "Instance"},
		{"slash in instance", func(c *Config) { c.Instance = "a/b" }, "Instance"},
		{"no endpoints", func(c *Config) { c.Endpoints = nil }, "Endpoints"},
		{"sub-second TTL", func(c *Config) { c.TTL = 500 * time.Millisecond }, "TTL"},
		{"zero dial timeout", func(c *Config) { c.DialTimeout = 0 }, "DialTimeout"},
		{"zero join timeout", func(c *Config) { c.JoinTimeout = 0 }, "JoinTimeout"},
		{"zero re-join backoff", func(c *Config) { c.RejoinBackoff = 0 }, "RejoinBackoff"},
		{"cap below base", func(c *Config) { c.RejoinBackoffCap = c.RejoinBackoff / 2 }, "RejoinBackoffCap"},
		{"zero lock check", func(c *Config) { c.LockCheckTimeout = 0 }, "LockCheckTimeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.change(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("Validate = %v, want an error naming %s", err, tc.field)
			}
			if _, nerr := New(c); nerr == nil {
				t.Fatal("New accepted a Config that Validate refuses")
			}
		})
	}
	if _, err := New(Config{Instance: "c1"}); err == nil {
		t.Fatal("New accepted a zero Config (no TTL, no backoff)")
	}
}
