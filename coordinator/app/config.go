package app

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/tccsuite/tccsuite/coordinator/internal/registry"
	"github.com/tccsuite/tccsuite/internal/conf"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// Config is the coordinator's whole configuration, read from the environment. The tags
// declare each variable; coordinator/README.md's table is generated from them
// (go generate ./internal/conf/confdocs).
type Config struct {
	Addr          string          `env:"TCC_COORDINATOR_ADDR" envDefault:":7070" desc:"HTTP listen address"`
	MySQLDSN      string          `env:"TCC_MYSQL_DSN,dsn" desc:"MySQL/MariaDB DSN ('user:pass@tcp(host:3306)/db'); the database is created if missing. Empty selects SQLite"`
	SQLitePath    string          `env:"TCC_SQLITE_PATH" envDefault:"tccsuite-coordinator.db" desc:"SQLite file when no MySQL DSN (quick start; single writer)"`
	DBMaxConns    int             `env:"TCC_DB_MAX_CONNS" envDefault:"64" desc:"MySQL pool size"`
	DBConnectWait time.Duration   `env:"TCC_DB_CONNECT_WAIT" envDefault:"30s" desc:"at start, how long an unreachable database is waited for (retrying, logged) before the coordinator gives up; '0' gives up at once"`
	EtcdEndpoints []string        `env:"TCC_ETCD_ENDPOINTS" envDefault:"http://127.0.0.1:2379" desc:"comma-separated etcd endpoints"`
	InstanceID    string          `env:"TCC_INSTANCE_ID" docDefault:"hostname-pid" desc:"unique instance name, '[A-Za-z0-9._:-]{1,64}'"`
	AdvertiseAddr string          `env:"TCC_ADVERTISE_ADDR" docDefault:"'TCC_COORDINATOR_ADDR'" desc:"address published in '/tccsuite/coordinators/{instance}'"`
	LeaseTTL      time.Duration   `env:"TCC_LEASE_TTL" envDefault:"5s" desc:"etcd session lease TTL (2s..1m)"`
	HMACKey       string          `env:"TCC_HMAC_KEY,secret" desc:"**required** (≥16 bytes) unless 'TCC_INSECURE=true': signs every participant call"`
	Insecure      bool            `env:"TCC_INSECURE" envDefault:"false" desc:"development only: unsigned participant calls, admin calls open when no admin token"`
	AdminToken    string          `env:"TCC_ADMIN_TOKEN,secret" desc:"Bearer token for admin calls ('POST /v1/transactions/{xid}/retry'); empty disables them (unless insecure)"`
	ClientToken   string          `env:"TCC_CLIENT_TOKEN,secret" desc:"when set (≥ 16 characters), every '/v1' call must carry 'Authorization: Bearer <it>' (or the admin token): only the services that start transactions may start or read them. Empty: the API is open to whoever reaches it, which the coordinator logs as a warning; restrict it by network policy then"`
	Participants  ParticipantSpec `env:"TCC_PARTICIPANTS" desc:"**required** registry 'name=baseURL,...', e.g. 'order=http://127.0.0.1:8080,inventory=http://127.0.0.1:8081,payment=http://127.0.0.1:8082'"`

	DefaultTimeout   time.Duration `env:"TCC_DEFAULT_TIMEOUT" envDefault:"5s" desc:"transaction timeout when the request gives no 'timeout_ms'; within ['TCC_MIN_TIMEOUT', 'TCC_MAX_TIMEOUT']"`
	MinTimeout       time.Duration `env:"TCC_MIN_TIMEOUT" envDefault:"100ms" desc:"smallest 'timeout_ms' accepted"`
	MaxTimeout       time.Duration `env:"TCC_MAX_TIMEOUT" envDefault:"60s" desc:"largest 'timeout_ms' accepted"`
	CallTimeout      time.Duration `env:"TCC_CALL_TIMEOUT" envDefault:"5s" desc:"one Confirm/Cancel call (sent as its 'X-TCC-Deadline')"`
	RetryBase        time.Duration `env:"TCC_RETRY_BASE" envDefault:"100ms" desc:"Confirm/Cancel retry backoff: exponential from this, full jitter, capped at 'TCC_RETRY_CAP'; retried forever (except a final 409, see 'NOT_APPLIED' below)"`
	RetryCap         time.Duration `env:"TCC_RETRY_CAP" envDefault:"30s" desc:"the retry backoff’s cap"`
	AttentionAfter   int           `env:"TCC_ATTENTION_AFTER" envDefault:"10" desc:"attempts of one branch’s Confirm/Cancel before the transaction is flagged for attention"`
	ScanInterval     time.Duration `env:"TCC_SCAN_INTERVAL" envDefault:"2s" desc:"recovery scan period (takeover of dead owners’ transactions)"`
	CompletionWait   time.Duration `env:"TCC_COMPLETION_WAIT" envDefault:"10s" desc:"how long a begin waits beyond the deadline for 'wait: completion' before answering 202"`
	MaxBranches      int           `env:"TCC_MAX_BRANCHES" envDefault:"16" desc:"branches per transaction"`
	MaxPayloadBytes  int           `env:"TCC_MAX_PAYLOAD_BYTES" envDefault:"16384" desc:"one branch payload"`
	MaxBodyBytes     int64         `env:"TCC_MAX_BODY_BYTES" envDefault:"262144" desc:"request body"`
	MaxLockKeys      int           `env:"TCC_MAX_LOCK_KEYS" envDefault:"16" desc:"lock keys per transaction"`
	BreakerFailures  int           `env:"TCC_BREAKER_FAILURES" envDefault:"5" desc:"consecutive unknown outcomes that open a participant’s circuit breaker (0 disables)"`
	BreakerCooldown  time.Duration `env:"TCC_BREAKER_COOLDOWN" envDefault:"2s" desc:"time open before one probe is let through"`
	ShutdownGrace    time.Duration `env:"TCC_SHUTDOWN_GRACE" envDefault:"10s" desc:"on SIGTERM, time given to in-flight transactions before they are handed over"`
	BatchWorkers     int           `env:"TCC_BATCH_WORKERS" envDefault:"4" desc:"parallel group-commit workers for begins and decisions (1 on SQLite)"`
	MaxIdleConnsHost int           `env:"TCC_MAX_IDLE_CONNS_PER_HOST" envDefault:"256" desc:"keep-alive pool per participant"`
	LogLevel         slog.Level    `env:"TCC_LOG_LEVEL" envDefault:"INFO" desc:"'DEBUG', 'INFO', 'WARN', 'ERROR' (JSON logs on stderr)"`
}

// ParticipantSpec is the participant registry TCC_PARTICIPANTS declares: name → base URL.
type ParticipantSpec map[string]string

// UnmarshalText parses "name=url,..." (registry.ParseSpec).
func (p *ParticipantSpec) UnmarshalText(b []byte) error {
	m, err := registry.ParseSpec(string(b))
	if err != nil {
		return err
	}
	*p = m
	return nil
}

// ConfigFromEnv reads the configuration through getenv (os.Getenv in production), each
// variable once, applying defaults; every parse error is reported. It does not validate
// relations: call Validate.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	var c Config
	err := conf.Load(getenv, &c)
	if c.InstanceID == "" {
		host, _ := os.Hostname()
		if host == "" {
			host = "coordinator"
		}
		c.InstanceID = sanitize(host) + "-" + strconv.Itoa(os.Getpid())
	}
	if c.AdvertiseAddr == "" {
		c.AdvertiseAddr = c.Addr
	}
	return c, err
}

// Validate checks every field and the relations between them, reporting every problem.
func (c Config) Validate() error {
	var p conf.Problems
	p.Check(c.Addr != "", "TCC_COORDINATOR_ADDR is required")
	p.Check(c.MySQLDSN != "" || c.SQLitePath != "", "TCC_MYSQL_DSN or TCC_SQLITE_PATH is required")
	p.Check(len(c.EtcdEndpoints) > 0, "TCC_ETCD_ENDPOINTS is required")
	p.Check(tcc.ValidID(c.InstanceID), "TCC_INSTANCE_ID must be 1-64 characters of [A-Za-z0-9._:-]")
	p.Check(c.LeaseTTL >= 2*time.Second && c.LeaseTTL <= time.Minute, "TCC_LEASE_TTL must be 2s..1m")
	p.Check(c.Insecure || len(c.HMACKey) >= tcc.MinKeyLen, "TCC_HMAC_KEY must be at least %d bytes (or TCC_INSECURE=true for local development)", tcc.MinKeyLen)
	p.Check(c.ClientToken == "" || len(c.ClientToken) >= 16, "TCC_CLIENT_TOKEN must be at least 16 characters")
	p.Check(len(c.Participants) > 0, "TCC_PARTICIPANTS must name at least one participant (name=url,...)")
	p.Check(c.MinTimeout > 0 && c.MinTimeout <= c.MaxTimeout, "TCC_MIN_TIMEOUT must be positive and not above TCC_MAX_TIMEOUT")
	p.Check(c.DefaultTimeout >= c.MinTimeout && c.DefaultTimeout <= c.MaxTimeout, "TCC_DEFAULT_TIMEOUT must be within [TCC_MIN_TIMEOUT, TCC_MAX_TIMEOUT]")
	p.Check(c.CallTimeout > 0, "TCC_CALL_TIMEOUT must be positive")
	p.Check(c.RetryBase > 0 && c.RetryBase <= c.RetryCap, "TCC_RETRY_BASE must be positive and not above TCC_RETRY_CAP")
	p.Check(c.AttentionAfter >= 1, "TCC_ATTENTION_AFTER must be at least 1")
	p.Check(c.ScanInterval >= 10*time.Millisecond, "TCC_SCAN_INTERVAL must be at least 10ms")
	p.Check(c.CompletionWait >= 0, "TCC_COMPLETION_WAIT must not be negative")
	p.Check(c.MaxBranches >= 1 && c.MaxBranches <= 1000, "TCC_MAX_BRANCHES must be 1..1000")
	p.Check(c.MaxPayloadBytes >= 2 && c.MaxPayloadBytes <= 16<<20, "TCC_MAX_PAYLOAD_BYTES must be 2..16MiB")
	p.Check(c.MaxBodyBytes >= int64(c.MaxPayloadBytes), "TCC_MAX_BODY_BYTES must be at least TCC_MAX_PAYLOAD_BYTES")
	p.Check(c.MaxLockKeys >= 0, "TCC_MAX_LOCK_KEYS must not be negative")
	p.Check(c.BreakerFailures >= 0, "TCC_BREAKER_FAILURES must not be negative (0 disables)")
	p.Check(c.BreakerCooldown > 0, "TCC_BREAKER_COOLDOWN must be positive")
	p.Check(c.ShutdownGrace >= 0, "TCC_SHUTDOWN_GRACE must not be negative")
	p.Check(c.BatchWorkers >= 1 && c.BatchWorkers <= 64, "TCC_BATCH_WORKERS must be 1..64")
	p.Check(c.DBMaxConns >= 1, "TCC_DB_MAX_CONNS must be positive")
	p.Check(c.MaxIdleConnsHost >= 1, "TCC_MAX_IDLE_CONNS_PER_HOST must be positive")
	if _, err := registry.New(c.Participants, registry.Options{}); err != nil {
		p.Add(fmt.Errorf("TCC_PARTICIPANTS: %w", err))
	}
	return p.Err()
}

// Redacted returns c with its secrets masked and its DSN's password masked, for logging
// (conf.Redact).
func (c Config) Redacted() Config { return conf.Redact(c) }

// sanitize turns a host name into the start of a valid instance ID.
func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && c != '.' && c != '-' && c != '_' {
			b[i] = '-'
		}
	}
	if len(b) > 40 {
		b = b[:40]
	}
	return string(b)
}
