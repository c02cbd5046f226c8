package httpx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Serve serves h on ln (or on addr when ln is nil) until ctx ends, then shuts down
// gracefully: it stops accepting, lets in-flight requests finish for up to grace, and
// returns. ready, when not nil, receives the bound address once listening.
func Serve(ctx context.Context, log *slog.Logger, name, addr string, ln net.Listener, h http.Handler, grace time.Duration, ready func(net.Addr)) error {
	return ServeAll(ctx, log, grace, Server{Name: name, Addr: addr, Listener: ln, Handler: h, Ready: ready})
}

// Server is one listener of a service for ServeAll.
type Server struct {
	// Name names the server in logs and errors ("inventory", "inventory tcc").
	Name string
	// Addr is listened on when Listener is nil.
	Addr     string
	Listener net.Listener
	Handler  http.Handler
	// Ready, when not nil, receives the bound address once listening.
	Ready func(net.Addr)
}

// ServeAll serves every server until ctx ends or one of them fails, then shuts them all
// down together and gracefully: they stop accepting, in-flight requests finish for up to
// grace, and ServeAll returns. A listen error closes the listeners already bound (and the
// given ones) and returns before anything is served.
func ServeAll(ctx context.Context, log *slog.Logger, grace time.Duration, servers ...Server) error {
	if len(servers) == 0 {
		return errors.New("serve: no server")
	}
	lns := make([]net.Listener, len(servers))
	for i, s := range servers {
		lns[i] = s.Listener
		if lns[i] != nil {
			continue
		}
		ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", s.Addr)
		if err != nil {
			for _, l := range lns[:i] {
				_ = l.Close()
			}
			for _, o := range servers[i+1:] {
				if o.Listener != nil {
					_ = o.Listener.Close()
				}
			}
			return fmt.Errorf("%s: listen %s: %w", s.Name, s.Addr, err)
		}
		lns[i] = ln
	}
	type result struct {
		i   int
		err error
	}
	srvs := make([]*http.Server, len(servers))
	errc := make(chan result, len(servers))
	for i, s := range servers {
		srvs[i] = &http.Server{
			Handler:           s.Handler,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      60 * time.Second,
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
		go func() { errc <- result{i, srvs[i].Serve(lns[i])} }()
		log.Info(s.Name+" listening", "addr", lns[i].Addr().String())
		if s.Ready != nil {
			s.Ready(lns[i].Addr())
		}
	}
	var errs []error
	pending := len(servers)
	select {
	case r := <-errc:
		// Serve only returns early on a failure (ErrServerClosed needs a Shutdown).
		pending--
		errs = append(errs, fmt.Errorf("%s: serve: %w", servers[r.i].Name, r.err))
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	shut := make(chan error, len(servers))
	for i, s := range servers {
		log.Info(s.Name+" shutting down", "grace", grace.String())
		go func() {
			if err := srvs[i].Shutdown(sctx); err != nil {
				_ = srvs[i].Close()
				shut <- fmt.Errorf("%s: shutdown: %w", s.Name, err)
				return
			}
			shut <- nil
		}()
	}
	for range servers {
		if err := <-shut; err != nil {
			errs = append(errs, err)
		}
	}
	for ; pending > 0; pending-- {
		if r := <-errc; r.err != nil && !errors.Is(r.err, http.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("%s: serve: %w", servers[r.i].Name, r.err))
		}
	}
	return errors.Join(errs...)
}
