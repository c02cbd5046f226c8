package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/internal/dbx"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// Common is the configuration every business service shares: where its database is,
// how coordinator calls are authenticated, and the admin token.
type Common struct {
	MySQLDSN      string
	SQLitePath    string
	DBMaxConns    int
	HMACKey       string
	Insecure      bool
	AdminToken    string
	MaxBodyBytes  int64
	ShutdownGrace time.Duration
}

// CommonFromEnv reads the shared variables; prefix is the service's ("INVENTORY_").
func CommonFromEnv(e *Env, prefix string) Common {
	return Common{
		MySQLDSN:      e.String(prefix+"MYSQL_DSN", ""),
		SQLitePath:    e.String(prefix+"SQLITE_PATH", ""),
		DBMaxConns:    int(e.Int(prefix+"DB_MAX_CONNS", 64)),
		HMACKey:       e.String("TCC_HMAC_KEY", ""),
		Insecure:      e.Bool("TCC_INSECURE", false),
		AdminToken:    e.String("TCC_ADMIN_TOKEN", ""),
		MaxBodyBytes:  e.Int(prefix+"MAX_BODY_BYTES", 16<<10),
		ShutdownGrace: e.Duration(prefix+"SHUTDOWN_TIMEOUT", 15*time.Second),
	}
}

// Validate checks the shared settings; prefix names the variables in messages.
func (c Common) Validate(prefix string) error {
	var errs []error
	if c.MySQLDSN == "" && c.SQLitePath == "" {
		errs = append(errs, fmt.Errorf("%sMYSQL_DSN or %sSQLITE_PATH is required", prefix, prefix))
	}
	if c.MySQLDSN != "" && c.SQLitePath != "" {
		errs = append(errs, fmt.Errorf("set only one of %sMYSQL_DSN and %sSQLITE_PATH", prefix, prefix))
	}
	if c.DBMaxConns < 1 || c.DBMaxConns > 1000 {
		errs = append(errs, fmt.Errorf("%sDB_MAX_CONNS must be in 1..1000", prefix))
	}
	if !c.Insecure && len(c.HMACKey) < tcc.MinKeyLen {
		errs = append(errs, fmt.Errorf("TCC_HMAC_KEY must be at least %d bytes (or TCC_INSECURE=true for local development)", tcc.MinKeyLen))
	}
	if c.HMACKey != "" && len(c.HMACKey) < tcc.MinKeyLen {
		errs = append(errs, fmt.Errorf("TCC_HMAC_KEY must be at least %d bytes", tcc.MinKeyLen))
	}
	if c.MaxBodyBytes < 256 || c.MaxBodyBytes > 1<<20 {
		errs = append(errs, fmt.Errorf("%sMAX_BODY_BYTES must be in 256..1048576", prefix))
	}
	if c.ShutdownGrace <= 0 {
		errs = append(errs, fmt.Errorf("%sSHUTDOWN_TIMEOUT must be positive", prefix))
	}
	return errors.Join(errs...)
}

// LogAttrs is the configuration for the start-up log line, secrets masked.
func (c Common) LogAttrs() []any {
	return []any{"mysql_dsn", MaskDSN(c.MySQLDSN), "sqlite_path", c.SQLitePath, "db_max_conns", c.DBMaxConns,
		"hmac_key", Mask(c.HMACKey), "insecure", c.Insecure, "admin_token", Mask(c.AdminToken),
		"max_body_bytes", c.MaxBodyBytes, "shutdown_timeout", c.ShutdownGrace.String()}
}

// OpenDB opens the service's database, creating the MySQL schema if missing.
func (c Common) OpenDB(ctx context.Context) (*gorm.DB, error) {
	if c.MySQLDSN != "" {
		if err := dbx.CreateMySQLDatabase(ctx, c.MySQLDSN); err != nil {
			return nil, err
		}
	}
	return dbx.Open(ctx, dbx.Config{MySQLDSN: c.MySQLDSN, SQLitePath: c.SQLitePath, MaxOpenConns: c.DBMaxConns})
}

// NewParticipant builds the TCC participant of a service from the shared settings.
func (c Common) NewParticipant(db *gorm.DB, log *slog.Logger, m *Metrics) (*tcc.Participant, error) {
	var v *tcc.Verifier
	if c.HMACKey != "" {
		var err error
		if v, err = tcc.NewVerifier(time.Minute, []byte(c.HMACKey)); err != nil {
			return nil, err
		}
	}
	return tcc.NewParticipant(tcc.ParticipantConfig{
		DB: db, Verifier: v, Insecure: c.Insecure && v == nil, Logger: log, Registerer: m.Registry,
	})
}
