// Package api embeds the OpenAPI 3 description of tccsuite's HTTP APIs (openapi.yaml)
// and lists its operations, so that tests can hold the servers and the spec to each
// other.
package api

import (
	_ "embed"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// Spec is the OpenAPI document.
//
//go:embed openapi.yaml
var Spec []byte

// Operation is one method on one concrete path pattern of the spec. Path parameters are
// written "{}" (their names differ between the spec and the routers), except that a
// parameter with an enum is expanded into one Operation per value.
type Operation struct {
	Method string
	Path   string
	Tags   []string
}

type document struct {
	Paths map[string]map[string]struct {
		Tags       []string `json:"tags"`
		Parameters []struct {
			Name   string `json:"name"`
			In     string `json:"in"`
			Ref    string `json:"$ref"`
			Schema struct {
				Enum []string `json:"enum"`
			} `json:"schema"`
		} `json:"parameters"`
	} `json:"paths"`
}

var paramRE = regexp.MustCompile(`\{[^}]+\}`)

// Operations parses Spec.
func Operations() ([]Operation, error) {
	var d document
	if err := yaml.Unmarshal(Spec, &d); err != nil {
		return nil, fmt.Errorf("api: openapi.yaml: %w", err)
	}
	var ops []Operation
	for path, methods := range d.Paths {
		for method, op := range methods {
			paths := []string{path}
			for _, p := range op.Parameters {
				if p.In != "path" || len(p.Schema.Enum) == 0 {
					continue
				}
				var expanded []string
				for _, base := range paths {
					for _, v := range p.Schema.Enum {
						expanded = append(expanded, strings.ReplaceAll(base, "{"+p.Name+"}", v))
					}
				}
				paths = expanded
			}
			for _, p := range paths {
				ops = append(ops, Operation{Method: strings.ToUpper(method), Path: Normalize(p), Tags: op.Tags})
			}
		}
	}
	sort.Slice(ops, func(i, j int) bool {
		if ops[i].Path != ops[j].Path {
			return ops[i].Path < ops[j].Path
		}
		return ops[i].Method < ops[j].Method
	})
	return ops, nil
}

// Normalize writes every path parameter, OpenAPI "{name}" or gin ":name" / "*name", as
// "{}".
func Normalize(path string) string {
	path = paramRE.ReplaceAllString(path, "{}")
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, ":") || strings.HasPrefix(p, "*") {
			parts[i] = "{}"
		}
	}
	return strings.Join(parts, "/")
}
