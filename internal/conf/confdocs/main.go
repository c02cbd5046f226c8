// Command confdocs writes the configuration tables of coordinator/README.md and
// services/README.md from the configuration structs' tags (internal/conf), between the
// markers <!-- config:NAME begin --> and <!-- config:NAME end -->. Run it through
// go generate ./internal/conf/confdocs after changing a configuration; its test fails
// while a README differs from what it would write.
package main

//go:generate go run . -root ../../..

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	root := flag.String("root", ".", "the repository's root folder")
	flag.Parse()
	if err := write(*root); err != nil {
		fmt.Fprintln(os.Stderr, "confdocs:", err)
		os.Exit(1)
	}
}

// write rewrites every README whose tables are out of date; the others are untouched.
func write(root string) error {
	docs, err := render(root)
	if err != nil {
		return err
	}
	for path, d := range docs {
		if bytes.Equal(d.now, d.want) {
			continue
		}
		if err := os.WriteFile(filepath.Join(root, path), d.want, 0o644); err != nil { //nolint:gosec // a README, world-readable like the rest of the tree
			return err
		}
		fmt.Println("confdocs: wrote", path)
	}
	return nil
}
