package main

import (
	"os"
	"path/filepath"

	"github.com/tccsuite/tccsuite/internal/conf"
)

// doc is a README as it is and as the configuration structs say it should be.
type doc struct {
	now, want []byte
}

// render returns each generated README (path relative to root) as it is and as it
// should be.
func render(root string) (map[string]doc, error) {
	files, err := sections()
	if err != nil {
		return nil, err
	}
	out := map[string]doc{}
	for path, secs := range files {
		raw, err := os.ReadFile(filepath.Join(root, path)) //nolint:gosec // a README of this repository
		if err != nil {
			return nil, err
		}
		s := string(raw)
		for _, sec := range secs {
			if s, err = conf.ReplaceSection(s, sec.name, sec.body); err != nil {
				return nil, err
			}
		}
		out[path] = doc{now: raw, want: []byte(s)}
	}
	return out, nil
}
