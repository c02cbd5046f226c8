package migrate_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tccsuite/tccsuite/internal/dbx"
	"github.com/tccsuite/tccsuite/internal/migrate"
)

// TestCommand runs the subcommand's words in turn on one SQLite database.
func TestCommand(t *testing.T) {
	cfg := dbx.Config{SQLitePath: filepath.Join(t.TempDir(), "cmd.db")}
	for _, tc := range []struct {
		name    string
		args    []string
		want    []string // lines, in order, each a prefix after spaces are squeezed
		wantErr string
	}{
		{name: "status of a new database", args: []string{"status"}, want: []string{"VERSION STATE APPLIED AT FILE", "1 pending - 00001_widgets.sql", "2 pending - 00002_widget_size.sql"}},
		{name: "no word runs up", args: nil, want: []string{"widgets: schema at version 2 (2 applied now)"}},
		{name: "up again", args: []string{"up"}, want: []string{"widgets: schema at version 2 (0 applied now)"}},
		{name: "status after up", args: []string{"status"}, want: []string{"VERSION STATE APPLIED AT FILE", "1 applied ", "2 applied "}},
		{name: "down is not offered", args: []string{"down"}, wantErr: "usage: widgets migrate [up|status]"},
		{name: "extra words", args: []string{"up", "2"}, wantErr: "usage: widgets migrate [up|status]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := migrate.Command(context.Background(), cfg, testSet(), tc.args, &out, quiet())
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("got %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("output:\n%s", out.String())
			}
			for i, l := range lines {
				if got := strings.Join(strings.Fields(l), " ") + " "; !strings.HasPrefix(got, tc.want[i]) {
					t.Fatalf("line %d: %q, want %q...", i, got, tc.want[i])
				}
			}
		})
	}
}
