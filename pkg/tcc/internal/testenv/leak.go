package testenv

import (
	"fmt"
	"net/http"
	"os"
	"runtime"
	"testing"
	"time"
)

// Main runs the package's tests and then fails the package if goroutines outlive them:
// every server, pool and client the tests start must be shut down. Idle keep-alive
// connections of the default transport are closed first; what remains after a bounded
// wait is a leak, reported with every goroutine's stack. Call it from TestMain:
// func TestMain(m *testing.M) { testenv.Main(m) }.
func Main(m *testing.M) {
	base := runtime.NumGoroutine()
	code := m.Run()
	if code == 0 {
		if tr, ok := http.DefaultTransport.(*http.Transport); ok {
			tr.CloseIdleConnections()
		}
		deadline := time.Now().Add(10 * time.Second)
		for wait := 10 * time.Millisecond; runtime.NumGoroutine() > base+2 && time.Now().Before(deadline); wait = min(wait*2, 500*time.Millisecond) {
			<-time.After(wait)
		}
		if n := runtime.NumGoroutine(); n > base+2 {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			fmt.Fprintf(os.Stderr, "goroutine leak: %d goroutines after the tests, %d before\n%s\n", n, base, buf)
			code = 1
		}
	}
	os.Exit(code)
}
