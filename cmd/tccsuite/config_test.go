package main

import (
	"path/filepath"
	"testing"
)

// TestConfigDefaults checks the quick start's variables and defaults, as the README
// documents them.
func TestConfigDefaults(t *testing.T) {
	c, err := loadConfig(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	want := config{
		DataDir:        ".tccsuite-data",
		HMACKey:        demoHMACKey,
		AdminToken:     demoAdminToken,
		EtcdClientAddr: "127.0.0.1:2379",
		EtcdPeerAddr:   "127.0.0.1:2380",
	}
	if c != want {
		t.Fatalf("defaults %+v, want %+v", c, want)
	}
}

// TestComponentEnv checks what each component reads: the process environment first,
// then the quick start's defaults (SQLite files, or one MySQL schema per component with
// the coordinator's own TCC_MYSQL_DSN).
func TestComponentEnv(t *testing.T) {
	cases := []struct {
		name         string
		process      map[string]string
		key          string
		want         string
		wantCoord    string // what the coordinator reads for key
		wantLoadFail bool
	}{
		{"SQLite file", map[string]string{"TCC_DATA_DIR": "d"}, "ORDER_SQLITE_PATH", filepath.Join("d", "order.db"), filepath.Join("d", "order.db"), false},
		{"coordinator SQLite file", nil, "TCC_SQLITE_PATH", filepath.Join(".tccsuite-data", "coordinator.db"), filepath.Join(".tccsuite-data", "coordinator.db"), false},
		{"no MySQL: no DSN", nil, "PAYMENT_MYSQL_DSN", "", "", false},
		{"schema per service", map[string]string{"TCC_MYSQL_DSN": "root@tcp(db:3306)/shop"}, "INVENTORY_MYSQL_DSN", "root@tcp(db:3306)/shop_inventory", "root@tcp(db:3306)/shop_inventory", false},
		{"coordinator's own schema", map[string]string{"TCC_MYSQL_DSN": "root@tcp(db:3306)/"}, "TCC_MYSQL_DSN", "root@tcp(db:3306)/", "root@tcp(db:3306)/tccsuite_coordinator", false},
		{"shared pools", map[string]string{"TCC_MYSQL_DSN": "root@tcp(db:3306)/"}, "ORDER_DB_MAX_CONNS", "24", "24", false},
		{"the process wins", map[string]string{"TCC_MYSQL_DSN": "root@tcp(db:3306)/", "ORDER_DB_MAX_CONNS": "8"}, "ORDER_DB_MAX_CONNS", "8", "8", false},
		{"demo key", nil, "TCC_HMAC_KEY", demoHMACKey, demoHMACKey, false},
		{"own token", map[string]string{"TCC_ADMIN_TOKEN": "t0k3n"}, "TCC_ADMIN_TOKEN", "t0k3n", "t0k3n", false},
		{"bad DSN", map[string]string{"TCC_MYSQL_DSN": "not a dsn"}, "", "", "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string { return tc.process[k] }
			c, err := loadConfig(getenv)
			if err != nil {
				t.Fatal(err)
			}
			env, coordEnv, err := componentEnv(getenv, c)
			if tc.wantLoadFail {
				if err == nil {
					t.Fatal("a bad TCC_MYSQL_DSN was accepted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := env(tc.key); got != tc.want {
				t.Errorf("%s = %q, want %q", tc.key, got, tc.want)
			}
			if got := coordEnv(tc.key); got != tc.wantCoord {
				t.Errorf("the coordinator's %s = %q, want %q", tc.key, got, tc.wantCoord)
			}
		})
	}
}
