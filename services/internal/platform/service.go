package platform

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/internal/dbx"
	"github.com/tccsuite/tccsuite/internal/httpx"
)

// Service describes one participant service to Run: everything that differs between
// services. Everything else (listeners, database, participant, purges, metrics, logs,
// shutdown) Run does the same way for all.
type Service struct {
	// Name names the service in logs, metrics, listener names and errors ("inventory").
	Name string
	// Common is the shared configuration; Addr is the main listen address, replaced by
	// Listener when set (tests, the quick start).
	Common   Common
	Addr     string
	Listener net.Listener
	// Validate checks the service's whole configuration; Run starts nothing on an error.
	Validate func() error
	// LogAttrs is the service's whole configuration for the start-up log line, secrets
	// masked: conf.Attrs(cfg).
	LogAttrs []any
	// AdminAPI says the service has admin routes (Deps.Admin): Run warns at start when
	// TCC_ADMIN_TOKEN is unset, since they then refuse every call.
	AdminAPI bool
	// Migrate creates the service's own tables (after the barrier's); idempotent.
	Migrate func(ctx context.Context, db *gorm.DB) error
	// Mapper maps the service's domain errors to answers (httpx.Map).
	Mapper httpx.Mapper
	// Build wires the service on its database: its TCC actions, REST routes, background
	// jobs and what to release at the end. It must not block or call out: Routes runs
	// it on a database that is never opened.
	Build func(d Deps) (Parts, error)
}

// Deps are what a service's Build gets.
type Deps struct {
	DB  *gorm.DB
	Log *slog.Logger
	// Admin guards the admin routes: only "Authorization: Bearer <TCC_ADMIN_TOKEN>" passes.
	Admin gin.HandlerFunc
}

// Parts are a service built on its database.
type Parts struct {
	// Actions are the TCC actions (Action(a)), on the TCC routes: the TCC listener's
	// engine, or the main one.
	Actions []Mounter
	// Routes registers the REST routes on the main engine.
	Routes func(r gin.IRouter)
	// Jobs run in the background while the service serves (nil ones are skipped); they
	// are stopped, and waited for, before the database closes.
	Jobs []Job
	// Close, when not nil, releases what Build acquired, once the servers stopped.
	Close func()
}

// Wired is a service wired on its database, not serving yet.
type Wired struct {
	// API serves the REST routes, health and metrics; TCC the TCC actions: the same
	// engine unless the service has a separate TCC listener (Common.SeparateTCC).
	API, TCC *gin.Engine
	Parts
}

// Wire builds s on db: its engines (httpx.NewEngine with s.Mapper, metrics, readiness
// pinging db), its participant and actions, its routes. Nothing is served or started;
// on an error Wire has released what Build acquired.
func Wire(s Service, db *gorm.DB, log *slog.Logger) (Wired, error) {
	metrics := httpx.NewMetrics(s.Name)
	api, tccAPI := s.Common.Engines(log, metrics, db, s.Mapper)
	participant, err := s.Common.NewParticipant(db, log, metrics)
	if err != nil {
		return Wired{}, fmt.Errorf("%s: %w", s.Name, err)
	}
	parts, err := s.Build(Deps{DB: db, Log: log, Admin: httpx.AdminAuth(s.Common.AdminToken)})
	if err != nil {
		return Wired{}, fmt.Errorf("%s: %w", s.Name, err)
	}
	w := Wired{API: api, TCC: tccAPI, Parts: parts}
	for _, mount := range parts.Actions {
		if err := mount(tccAPI, participant); err != nil {
			w.close()
			return Wired{}, fmt.Errorf("%s: %w", s.Name, err)
		}
	}
	if parts.Routes != nil {
		parts.Routes(api)
	}
	return w, nil
}

func (w Wired) close() {
	if w.Close != nil {
		w.Close()
	}
}

// Run runs s until ctx ends, then shuts it down gracefully: the listeners stop taking
// requests and finish those in flight (for up to SHUTDOWN_TIMEOUT), Build's resources
// are released, the background jobs and the barrier purge stop, and the database closes
// last. It returns nil after a shutdown that ctx asked for, else why the service could
// not start or stopped.
func Run(ctx context.Context, log *slog.Logger, s Service) error {
	if s.Validate != nil {
		if err := s.Validate(); err != nil {
			return fmt.Errorf("%s: config: %w", s.Name, err)
		}
	}
	log = log.With("service", s.Name)
	log.Info(s.Name+" starting", s.LogAttrs...)
	if s.AdminAPI && s.Common.AdminToken == "" {
		log.Warn("TCC_ADMIN_TOKEN is not set: the admin API refuses every call")
	}

	db, err := s.Common.OpenDB(ctx, log)
	if err != nil {
		return fmt.Errorf("%s: %w", s.Name, err)
	}
	defer func() {
		if err := dbx.Close(db); err != nil {
			log.Warn(s.Name+": close database", "err", err)
		}
	}()
	if err := Migrate(ctx, db, s.Migrate); err != nil {
		return fmt.Errorf("%s: %w", s.Name, err)
	}
	defer s.Common.StartPurger(db, log)()
	w, err := Wire(s, db, log)
	if err != nil {
		return err
	}
	for _, job := range w.Jobs {
		if job != nil {
			defer Background(job)()
		}
	}
	defer w.close()
	return httpx.ServeAll(ctx, log, s.Common.ShutdownGrace, s.Common.Servers(s.Name, s.Addr, s.Listener, w.API, w.TCC)...)
}

// Routes lists the routes a service serves (method and gin path pattern), so that the
// API reference (api/openapi.yaml) can be checked against the server itself. describe
// builds the service from its configuration, read through getenv; Routes gives it
// prefix's SQLITE_PATH (a file never opened), a separate TCC listener (prefix's
// TCC_ADDR) and TCC_INSECURE, and lists the union of both engines: the routes are the
// same as with one listener, only split. Nothing is called.
func Routes(prefix string, describe func(getenv func(string) string) (Service, error)) ([]gin.RouteInfo, error) {
	env := map[string]string{"TCC_INSECURE": "true", prefix + "SQLITE_PATH": "never-opened.db", prefix + "TCC_ADDR": "127.0.0.1:0"}
	s, err := describe(func(k string) string { return env[k] })
	if err != nil {
		return nil, err
	}
	w, err := Wire(s, &gorm.DB{}, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	defer w.close()
	return httpx.RouteUnion(w.API, w.TCC), nil
}
