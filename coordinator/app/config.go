package app

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tccsuite/tccsuite/coordinator/internal/registry"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// Config is the coordinator's whole configuration, read from the environment
// (coordinator/README.md lists every variable).
type Config struct {
	Addr          string        // TCC_COORDINATOR_ADDR
	MySQLDSN      string        // TCC_MYSQL_DSN; empty selects SQLite
	SQLitePath    string        // TCC_SQLITE_PATH
	DBMaxConns    int           // TCC_DB_MAX_CONNS
	EtcdEndpoints []string      // TCC_ETCD_ENDPOINTS
	InstanceID    string        // TCC_INSTANCE_ID
	AdvertiseAddr string        // TCC_ADVERTISE_ADDR
	LeaseTTL      time.Duration // TCC_LEASE_TTL
	HMACKey       string        // TCC_HMAC_KEY (secret)
	Insecure      bool          // TCC_INSECURE
	AdminToken    string        // TCC_ADMIN_TOKEN (secret)
	ClientToken   string        // TCC_CLIENT_TOKEN (secret): required on every /v1 call when set
	Participants  map[string]string

	DefaultTimeout   time.Duration // TCC_DEFAULT_TIMEOUT
	MinTimeout       time.Duration // TCC_MIN_TIMEOUT
	MaxTimeout       time.Duration // TCC_MAX_TIMEOUT
	CallTimeout      time.Duration // TCC_CALL_TIMEOUT
	RetryBase        time.Duration // TCC_RETRY_BASE
	RetryCap         time.Duration // TCC_RETRY_CAP
	AttentionAfter   int           // TCC_ATTENTION_AFTER
	ScanInterval     time.Duration // TCC_SCAN_INTERVAL
	CompletionWait   time.Duration // TCC_COMPLETION_WAIT
	MaxBranches      int           // TCC_MAX_BRANCHES
	MaxPayloadBytes  int           // TCC_MAX_PAYLOAD_BYTES
	MaxBodyBytes     int64         // TCC_MAX_BODY_BYTES
	MaxLockKeys      int           // TCC_MAX_LOCK_KEYS
	BreakerFailures  int           // TCC_BREAKER_FAILURES
	BreakerCooldown  time.Duration // TCC_BREAKER_COOLDOWN
	ShutdownGrace    time.Duration // TCC_SHUTDOWN_GRACE
	BatchWorkers     int           // TCC_BATCH_WORKERS
	MaxIdleConnsHost int           // TCC_MAX_IDLE_CONNS_PER_HOST
}

// ConfigFromEnv reads the configuration through getenv (os.Getenv in production),
// applying defaults. It does not validate relations: call Validate.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	host, _ := os.Hostname()
	if host == "" {
		host = "coordinator"
	}
	c := Config{
		Addr:          or(getenv("TCC_COORDINATOR_ADDR"), ":7070"),
		MySQLDSN:      getenv("TCC_MYSQL_DSN"),
		SQLitePath:    or(getenv("TCC_SQLITE_PATH"), "tccsuite-coordinator.db"),
		InstanceID:    or(getenv("TCC_INSTANCE_ID"), sanitize(host)+"-"+strconv.Itoa(os.Getpid())),
		AdvertiseAddr: getenv("TCC_ADVERTISE_ADDR"),
		HMACKey:       getenv("TCC_HMAC_KEY"),
		AdminToken:    getenv("TCC_ADMIN_TOKEN"),
		ClientToken:   getenv("TCC_CLIENT_TOKEN"),
	}
	for _, e := range strings.Split(or(getenv("TCC_ETCD_ENDPOINTS"), "http://127.0.0.1:2379"), ",") {
		if e = strings.TrimSpace(e); e != "" {
			c.EtcdEndpoints = append(c.EtcdEndpoints, e)
		}
	}
	if c.AdvertiseAddr == "" {
		c.AdvertiseAddr = c.Addr
	}
	var err error
	if c.Participants, err = registry.ParseSpec(getenv("TCC_PARTICIPANTS")); err != nil {
		return c, err
	}
	p := parser{getenv: getenv}
	c.Insecure = p.bool("TCC_INSECURE", false)
	c.DBMaxConns = p.int("TCC_DB_MAX_CONNS", 64)
	c.LeaseTTL = p.dur("TCC_LEASE_TTL", 5*time.Second)
	c.DefaultTimeout = p.dur("TCC_DEFAULT_TIMEOUT", 5*time.Second)
	c.MinTimeout = p.dur("TCC_MIN_TIMEOUT", 100*time.Millisecond)
	c.MaxTimeout = p.dur("TCC_MAX_TIMEOUT", 60*time.Second)
	c.CallTimeout = p.dur("TCC_CALL_TIMEOUT", 5*time.Second)
	c.RetryBase = p.dur("TCC_RETRY_BASE", 100*time.Millisecond)
	c.RetryCap = p.dur("TCC_RETRY_CAP", 30*time.Second)
	c.AttentionAfter = p.int("TCC_ATTENTION_AFTER", 10)
	c.ScanInterval = p.dur("TCC_SCAN_INTERVAL", 2*time.Second)
	c.CompletionWait = p.dur("TCC_COMPLETION_WAIT", 10*time.Second)
	c.MaxBranches = p.int("TCC_MAX_BRANCHES", 16)
	c.MaxPayloadBytes = p.int("TCC_MAX_PAYLOAD_BYTES", 16<<10)
	c.MaxBodyBytes = int64(p.int("TCC_MAX_BODY_BYTES", 256<<10))
	c.MaxLockKeys = p.int("TCC_MAX_LOCK_KEYS", 16)
	c.BreakerFailures = p.int("TCC_BREAKER_FAILURES", 5)
	c.BreakerCooldown = p.dur("TCC_BREAKER_COOLDOWN", 2*time.Second)
	c.ShutdownGrace = p.dur("TCC_SHUTDOWN_GRACE", 10*time.Second)
	c.BatchWorkers = p.int("TCC_BATCH_WORKERS", 4)
	c.MaxIdleConnsHost = p.int("TCC_MAX_IDLE_CONNS_PER_HOST", 256)
	return c, errors.Join(p.errs...)
}

// Validate checks every field and the relations between them.
func (c Config) Validate() error {
	var errs []error
	check := func(ok bool, format string, a ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, a...))
		}
	}
	check(c.Addr != "", "TCC_COORDINATOR_ADDR is required")
	check(c.MySQLDSN != "" || c.SQLitePath != "", "TCC_MYSQL_DSN or TCC_SQLITE_PATH is required")
	check(len(c.EtcdEndpoints) > 0, "TCC_ETCD_ENDPOINTS is required")
	check(tcc.ValidID(c.InstanceID), "TCC_INSTANCE_ID must be 1-64 characters of [A-Za-z0-9._:-]")
	check(c.LeaseTTL >= 2*time.Second && c.LeaseTTL <= time.Minute, "TCC_LEASE_TTL must be 2s..1m")
	check(c.Insecure || len(c.HMACKey) >= tcc.MinKeyLen, "TCC_HMAC_KEY must be at least %d bytes (or TCC_INSECURE=true for local development)", tcc.MinKeyLen)
	check(c.ClientToken == "" || len(c.ClientToken) >= 16, "TCC_CLIENT_TOKEN must be at least 16 characters")
	check(len(c.Participants) > 0, "TCC_PARTICIPANTS must name at least one participant (name=url,...)")
	check(c.MinTimeout > 0 && c.MinTimeout <= c.MaxTimeout, "TCC_MIN_TIMEOUT must be positive and not above TCC_MAX_TIMEOUT")
	check(c.DefaultTimeout >= c.MinTimeout && c.DefaultTimeout <= c.MaxTimeout, "TCC_DEFAULT_TIMEOUT must be within [TCC_MIN_TIMEOUT, TCC_MAX_TIMEOUT]")
	check(c.CallTimeout > 0, "TCC_CALL_TIMEOUT must be positive")
	check(c.RetryBase > 0 && c.RetryBase <= c.RetryCap, "TCC_RETRY_BASE must be positive and not above TCC_RETRY_CAP")
	check(c.AttentionAfter >= 1, "TCC_ATTENTION_AFTER must be at least 1")
	check(c.ScanInterval >= 10*time.Millisecond, "TCC_SCAN_INTERVAL must be at least 10ms")
	check(c.CompletionWait >= 0, "TCC_COMPLETION_WAIT must not be negative")
	check(c.MaxBranches >= 1 && c.MaxBranches <= 1000, "TCC_MAX_BRANCHES must be 1..1000")
	check(c.MaxPayloadBytes >= 2 && c.MaxPayloadBytes <= 16<<20, "TCC_MAX_PAYLOAD_BYTES must be 2..16MiB")
	check(c.MaxBodyBytes >= int64(c.MaxPayloadBytes), "TCC_MAX_BODY_BYTES must be at least TCC_MAX_PAYLOAD_BYTES")
	check(c.MaxLockKeys >= 0, "TCC_MAX_LOCK_KEYS must not be negative")
	check(c.BreakerFailures >= 0, "TCC_BREAKER_FAILURES must not be negative (0 disables)")
	check(c.BreakerCooldown > 0, "TCC_BREAKER_COOLDOWN must be positive")
	check(c.ShutdownGrace >= 0, "TCC_SHUTDOWN_GRACE must not be negative")
	check(c.BatchWorkers >= 1 && c.BatchWorkers <= 64, "TCC_BATCH_WORKERS must be 1..64")
	check(c.DBMaxConns >= 1, "TCC_DB_MAX_CONNS must be positive")
	check(c.MaxIdleConnsHost >= 1, "TCC_MAX_IDLE_CONNS_PER_HOST must be positive")
	if _, err := registry.New(c.Participants, registry.Options{}); err != nil {
		errs = append(errs, fmt.Errorf("TCC_PARTICIPANTS: %w", err))
	}
	return errors.Join(errs...)
}

// Redacted returns c with secrets masked, for logging.
func (c Config) Redacted() Config {
	mask := func(s string) string {
		if s == "" {
			return ""
		}
		return "***"
	}
	c.HMACKey = mask(c.HMACKey)
	c.AdminToken = mask(c.AdminToken)
	c.ClientToken = mask(c.ClientToken)
	if c.MySQLDSN != "" {
		if at := strings.LastIndex(c.MySQLDSN, "@"); at >= 0 {
			c.MySQLDSN = "***" + c.MySQLDSN[at:]
		}
	}
	return c
}

type parser struct {
	getenv func(string) string
	errs   []error
}

func (p *parser) dur(k string, def time.Duration) time.Duration {
	v := p.getenv(k)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s: %q is not a duration (e.g. 5s)", k, v))
		return def
	}
	return d
}

func (p *parser) int(k string, def int) int {
	v := p.getenv(k)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s: %q is not an integer", k, v))
		return def
	}
	return n
}

func (p *parser) bool(k string, def bool) bool {
	v := p.getenv(k)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s: %q is not a boolean", k, v))
		return def
	}
	return b
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			b[i] = '-'
		}
	}
	if len(b) > 40 {
		b = b[:40]
	}
	return string(b)
}
