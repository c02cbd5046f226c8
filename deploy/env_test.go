package deploy_test

import (
	"os"
	"slices"
	"sort"
	"testing"

	"sigs.k8s.io/yaml"

	coordinator "github.com/tccsuite/tccsuite/coordinator/app"
	"github.com/tccsuite/tccsuite/internal/conf"
	inventory "github.com/tccsuite/tccsuite/services/inventory/app"
	order "github.com/tccsuite/tccsuite/services/order/app"
	payment "github.com/tccsuite/tccsuite/services/payment/app"
)

// readVars returns the environment variables each component's configuration reads.
func readVars(t *testing.T) map[string]map[string]bool {
	t.Helper()
	record := func(f func(func(string) string) error) map[string]bool {
		seen := map[string]bool{}
		_ = f(func(k string) string { seen[k] = true; return "" })
		return seen
	}
	return map[string]map[string]bool{
		"coordinator": record(func(g func(string) string) error { _, err := coordinator.ConfigFromEnv(g); return err }),
		"order":       record(func(g func(string) string) error { _, err := order.ConfigFromEnv(g); return err }),
		"inventory":   record(func(g func(string) string) error { _, err := inventory.ConfigFromEnv(g); return err }),
		"payment":     record(func(g func(string) string) error { _, err := payment.ConfigFromEnv(g); return err }),
	}
}

// TestEveryDeclaredVariableIsRead ties the two ends this file and the README tables rely
// on: each binary reads through getenv exactly the variables its configuration struct
// declares (the README tables are generated from those declarations, and the manifests
// are checked against the reads below).
func TestEveryDeclaredVariableIsRead(t *testing.T) {
	reads := readVars(t)
	for name, cfg := range map[string]any{
		"coordinator": coordinator.Config{}, "order": order.Config{}, "inventory": inventory.Config{}, "payment": payment.Config{},
	} {
		fs, err := conf.Fields(cfg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		declared := map[string]bool{}
		for _, f := range fs {
			declared[f.Key] = true
			if !reads[name][f.Key] {
				t.Errorf("%s declares %s but does not read it", name, f.Key)
			}
		}
		for k := range reads[name] {
			if !declared[k] {
				t.Errorf("%s reads %s, which its Config does not declare (nor the README)", name, k)
			}
		}
	}
}

// Pod fields used only inside $(...) substitutions of other variables.
var substitutionOnly = []string{"POD_NAME", "POD_IP"}

// TestManifestsSetOnlyVariablesTheBinariesRead catches a misspelt or stale variable in
// the Kubernetes manifests and the compose file: it would be silently ignored, and the
// component would run on its default.
func TestManifestsSetOnlyVariablesTheBinariesRead(t *testing.T) {
	reads := readVars(t)
	anyReads := func(k string) bool {
		for _, r := range reads {
			if r[k] {
				return true
			}
		}
		return false
	}
	for _, overlay := range []string{"dev", "prod"} {
		c := build(t, overlay)
		for _, d := range c.deployments {
			r, ok := reads[d.Name]
			if !ok {
				continue
			}
			for _, e := range d.Spec.Template.Spec.Containers[0].Env {
				if !r[e.Name] && !slices.Contains(substitutionOnly, e.Name) {
					t.Errorf("%s: Deployment %s sets %s, which it never reads", overlay, d.Name, e.Name)
				}
			}
		}
		for name, cm := range c.configMaps {
			if name != "tccsuite-config" {
				continue
			}
			for k := range cm.Data {
				if !anyReads(k) {
					t.Errorf("%s: ConfigMap %s has %s, which no component reads", overlay, name, k)
				}
			}
		}
		for k := range secretKeys(c.secrets["tccsuite-secrets"]) {
			if !anyReads(k) {
				t.Errorf("%s: Secret tccsuite-secrets has %s, which no component reads", overlay, k)
			}
		}
	}

	raw, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Environment map[string]any `json:"environment"`
		} `json:"services"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatal(err)
	}
	component := map[string]string{"coordinator-1": "coordinator", "coordinator-2": "coordinator", "order": "order", "inventory": "inventory", "payment": "payment"}
	var checked []string
	for svc, s := range compose.Services {
		comp, ok := component[svc]
		if !ok {
			continue
		}
		checked = append(checked, svc)
		for k := range s.Environment {
			if !reads[comp][k] {
				t.Errorf("docker-compose.yml: %s sets %s, which %s never reads", svc, k, comp)
			}
		}
	}
	sort.Strings(checked)
	if len(checked) != len(component) {
		t.Errorf("compose services checked %v, want all of %v", checked, component)
	}
}

// TestDocumentedDefaults pins defaults that the manifests rely on by omission.
func TestDocumentedDefaults(t *testing.T) {
	cfg, err := order.ConfigFromEnv(func(k string) string {
		return map[string]string{"ORDER_SQLITE_PATH": "x.db", "TCC_INSECURE": "true"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.AccountCheck {
		t.Error("ORDER_ACCOUNT_CHECK must default to true (services/README.md)")
	}
	off, err := order.ConfigFromEnv(func(k string) string {
		return map[string]string{"ORDER_SQLITE_PATH": "x.db", "TCC_INSECURE": "true", "ORDER_ACCOUNT_CHECK": "false"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	if off.AccountCheck {
		t.Error("ORDER_ACCOUNT_CHECK=false is ignored")
	}
}
