package app

import "testing"

func TestCoordinatorURLList(t *testing.T) {
	env := func(coord string) func(string) string {
		return func(k string) string {
			return map[string]string{"ORDER_SQLITE_PATH": "x.db", "TCC_INSECURE": "true", "ORDER_COORDINATOR_URL": coord}[k]
		}
	}
	if _, err := ConfigFromEnv(env("http://c1:7070, http://c2:7070")); err != nil {
		t.Errorf("a list of coordinators was refused: %v", err)
	}
	for _, bad := range []string{"http://c1:7070,ftp://c2", "http://c1:7070,", "c1:7070"} {
		if _, err := ConfigFromEnv(env(bad)); err == nil {
			t.Errorf("ORDER_COORDINATOR_URL=%q was accepted", bad)
		}
	}
}
