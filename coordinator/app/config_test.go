package app_test

import (
	"log/slog"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tccsuite/tccsuite/coordinator/app"
	"github.com/tccsuite/tccsuite/internal/conf"
)

// validEnv is the least a coordinator needs; tests add to a copy.
var validEnv = map[string]string{"TCC_HMAC_KEY": "0123456789abcdef0123", "TCC_PARTICIPANTS": "order=http://127.0.0.1:8080"}

func loadConfig(t *testing.T, over map[string]string) (app.Config, error) {
	t.Helper()
	m := maps.Clone(validEnv)
	maps.Copy(m, over)
	return app.ConfigFromEnv(func(k string) string { return m[k] })
}

// TestConfigDefaults pins every default: the README table and the manifests rely on them.
func TestConfigDefaults(t *testing.T) {
	cfg, err := loadConfig(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	want := app.Config{
		Addr: ":7070", SQLitePath: "tccsuite-coordinator.db", DBMaxConns: 64, DBConnectWait: 30 * time.Second, EtcdEndpoints: []string{"http://127.0.0.1:2379"},
		InstanceID: cfg.InstanceID, AdvertiseAddr: ":7070", LeaseTTL: 5 * time.Second, HMACKey: validEnv["TCC_HMAC_KEY"],
		Participants:   app.ParticipantSpec{"order": "http://127.0.0.1:8080"},
		DefaultTimeout: 5 * time.Second, MinTimeout: 100 * time.Millisecond, MaxTimeout: time.Minute, CallTimeout: 5 * time.Second,
		RetryBase: 100 * time.Millisecond, RetryCap: 30 * time.Second, AttentionAfter: 10, ScanInterval: 2 * time.Second,
		CompletionWait: 10 * time.Second, MaxBranches: 16, MaxPayloadBytes: 16 << 10, MaxBodyBytes: 256 << 10, MaxLockKeys: 16,
		BreakerFailures: 5, BreakerCooldown: 2 * time.Second, ShutdownGrace: 10 * time.Second, BatchWorkers: 4,
		MaxIdleConnsHost: 256, LogLevel: slog.LevelInfo,
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("defaults\n got %+v\nwant %+v", cfg, want)
	}
	if cfg.InstanceID == "" || cfg.Validate() != nil {
		t.Errorf("the default instance ID %q is not valid", cfg.InstanceID)
	}
}

func TestConfigValues(t *testing.T) {
	cfg, err := loadConfig(t, map[string]string{
		"TCC_COORDINATOR_ADDR": " :9090 ", "TCC_ETCD_ENDPOINTS": "http://e1:2379, ,http://e2:2379", "TCC_INSTANCE_ID": "c-1",
		"TCC_PARTICIPANTS": "order = http://o:1 , payment=http://p:2", "TCC_LOG_LEVEL": "debug", "TCC_INSECURE": "true",
		"TCC_MAX_BODY_BYTES": "1048576",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != ":9090" || cfg.AdvertiseAddr != ":9090" || cfg.InstanceID != "c-1" || cfg.LogLevel != slog.LevelDebug ||
		!cfg.Insecure || cfg.MaxBodyBytes != 1<<20 || !reflect.DeepEqual(cfg.EtcdEndpoints, []string{"http://e1:2379", "http://e2:2379"}) ||
		!reflect.DeepEqual(cfg.Participants, app.ParticipantSpec{"order": "http://o:1", "payment": "http://p:2"}) {
		t.Errorf("got %+v", cfg)
	}
	adv, err := loadConfig(t, map[string]string{"TCC_ADVERTISE_ADDR": "c1:7070"})
	if err != nil || adv.AdvertiseAddr != "c1:7070" {
		t.Errorf("TCC_ADVERTISE_ADDR: %q, %v", adv.AdvertiseAddr, err)
	}
}

// TestConfigRefuses checks that each bad setting is refused, by parsing or by Validate,
// with a message naming the variable.
func TestConfigRefuses(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		name string // what the message must mention
	}{
		{map[string]string{"TCC_LEASE_TTL": "soon"}, "TCC_LEASE_TTL"},
		{map[string]string{"TCC_INSECURE": "maybe"}, "TCC_INSECURE"},
		{map[string]string{"TCC_MAX_BRANCHES": "many"}, "TCC_MAX_BRANCHES"},
		{map[string]string{"TCC_LOG_LEVEL": "loud"}, "TCC_LOG_LEVEL"},
		{map[string]string{"TCC_PARTICIPANTS": "order"}, "TCC_PARTICIPANTS"},
		{map[string]string{"TCC_PARTICIPANTS": " "}, "TCC_PARTICIPANTS"},
		{map[string]string{"TCC_PARTICIPANTS": "order=ftp://x"}, "TCC_PARTICIPANTS"},
		{map[string]string{"TCC_HMAC_KEY": "short"}, "TCC_HMAC_KEY"},
		{map[string]string{"TCC_CLIENT_TOKEN": "short"}, "TCC_CLIENT_TOKEN"},
		{map[string]string{"TCC_LEASE_TTL": "100ms"}, "TCC_LEASE_TTL"},
		{map[string]string{"TCC_MIN_TIMEOUT": "10s", "TCC_MAX_TIMEOUT": "1s"}, "TCC_MIN_TIMEOUT"},
		{map[string]string{"TCC_DEFAULT_TIMEOUT": "2m"}, "TCC_DEFAULT_TIMEOUT"},
		{map[string]string{"TCC_DEFAULT_TIMEOUT": "10ms"}, "TCC_DEFAULT_TIMEOUT"},
		{map[string]string{"TCC_RETRY_BASE": "1m", "TCC_RETRY_CAP": "1s"}, "TCC_RETRY_BASE"},
		{map[string]string{"TCC_INSTANCE_ID": "a/b"}, "TCC_INSTANCE_ID"},
		{map[string]string{"TCC_ETCD_ENDPOINTS": " , "}, "TCC_ETCD_ENDPOINTS"},
		{map[string]string{"TCC_MAX_PAYLOAD_BYTES": "1000", "TCC_MAX_BODY_BYTES": "10"}, "TCC_MAX_BODY_BYTES"},
		{map[string]string{"TCC_BATCH_WORKERS": "0"}, "TCC_BATCH_WORKERS"},
	} {
		cfg, err := loadConfig(t, tc.env)
		if err == nil {
			err = cfg.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%v: error %v, want one naming %s", tc.env, err, tc.name)
		}
	}
}

// TestConfigReportsEveryProblem: one start shows every mistake, not the first one.
func TestConfigReportsEveryProblem(t *testing.T) {
	_, err := loadConfig(t, map[string]string{"TCC_LEASE_TTL": "soon", "TCC_SCAN_INTERVAL": "often", "TCC_PARTICIPANTS": "x"})
	for _, k := range []string{"TCC_LEASE_TTL", "TCC_SCAN_INTERVAL", "TCC_PARTICIPANTS"} {
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("error %v does not name %s", err, k)
		}
	}
	cfg, _ := loadConfig(t, map[string]string{"TCC_LEASE_TTL": "1s", "TCC_BATCH_WORKERS": "0"})
	err = cfg.Validate()
	for _, k := range []string{"TCC_LEASE_TTL", "TCC_BATCH_WORKERS"} {
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("Validate: %v does not name %s", err, k)
		}
	}
}

// TestConfigLogMasksSecrets: the start-up log line shows the DSN's user and host, never
// a password, key or token.
func TestConfigLogMasksSecrets(t *testing.T) {
	cfg, err := loadConfig(t, map[string]string{
		"TCC_MYSQL_DSN": "tcc:pw-secret@tcp(db:3306)/tcc", "TCC_ADMIN_TOKEN": "admin-secret", "TCC_CLIENT_TOKEN": "client-secret-0123",
	})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("coordinator starting", conf.Attrs(cfg)...)
	line := b.String()
	for _, secret := range []string{"pw-secret", "admin-secret", "client-secret", validEnv["TCC_HMAC_KEY"]} {
		if strings.Contains(line, secret) {
			t.Errorf("the log line shows %q: %s", secret, line)
		}
	}
	for _, want := range []string{`"TCC_MYSQL_DSN":"tcc:***@tcp(db:3306)/tcc"`, `"TCC_HMAC_KEY":"***"`, `"TCC_LEASE_TTL":"5s"`, `"TCC_LOG_LEVEL":"INFO"`} {
		if !strings.Contains(line, want) {
			t.Errorf("the log line lacks %s: %s", want, line)
		}
	}
	if r := cfg.Redacted(); r.AdminToken != conf.Masked || r.MySQLDSN != "tcc:***@tcp(db:3306)/tcc" || cfg.AdminToken != "admin-secret" {
		t.Errorf("Redacted: %+v", r)
	}
}
