package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/tccsuite/tccsuite/internal/dbx"
)

var discard = slog.New(slog.DiscardHandler)

// Usage is the synopsis of a component's migrate subcommand.
const Usage = "migrate [up|status]"

// Command is the body of a component's "migrate" subcommand; args are the words after
// "migrate". "up" (also no word) runs Up and prints the version reached; "status" prints
// every version and whether the database has it. It opens the database cfg names (for up,
// it first creates a MySQL database that does not exist, as the component does at start),
// closes it before returning, and writes its answer to out and its log to log.
func Command(ctx context.Context, cfg dbx.Config, set Set, args []string, out io.Writer, log *slog.Logger) error {
	verb := "up"
	if len(args) > 0 {
		verb = args[0]
	}
	if len(args) > 1 || (verb != "up" && verb != "status") {
		return fmt.Errorf("usage: %s %s", set.Component, Usage)
	}
	if verb == "up" && cfg.IsMySQL() {
		if err := dbx.CreateMySQLDatabase(ctx, cfg.MySQLDSN); err != nil {
			log.WarnContext(ctx, "could not create the database (it may exist already)", "err", err)
		}
	}
	db, err := dbx.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		if err := dbx.Close(db); err != nil {
			log.WarnContext(ctx, "closing the database", "err", err)
		}
	}()
	if verb == "status" {
		vs, err := Status(ctx, db, set)
		if err != nil {
			return err
		}
		return printStatus(out, vs)
	}
	rep, err := Up(ctx, db, set, log)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "%s: schema at version %d (%d applied now)\n", set.Component, rep.Version, len(rep.Applied))
	return err
}

func printStatus(out io.Writer, vs []Version) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	_, err := fmt.Fprintln(w, "VERSION\tSTATE\tAPPLIED AT\tFILE")
	for _, v := range vs {
		state, at := "pending", "-"
		if v.Applied {
			state, at = "applied", v.AppliedAt.UTC().Format(time.RFC3339)
		}
		_, e := fmt.Fprintf(w, "%d\t%s\t%s\t%s\n", v.Version, state, at, v.File)
		err = errors.Join(err, e)
	}
	return errors.Join(err, w.Flush())
}
