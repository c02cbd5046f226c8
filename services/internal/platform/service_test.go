package platform

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/internal/dbx"
	"github.com/tccsuite/tccsuite/internal/httpx"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

type parcel struct {
	ID string `json:"id"`
}

// shipAction is a participant action that writes nothing.
func shipAction(name string) tcc.Action[parcel] {
	noop := func(context.Context, *gorm.DB, tcc.Branch, parcel) error { return nil }
	return tcc.Action[parcel]{Name: name, Try: noop, Confirm: noop, Cancel: noop}
}

// toy is a service as small as one can be: one table, one action, one route, one job.
type toy struct {
	built, closed atomic.Int32
	jobStarted    chan struct{}
	jobStoppedOK  chan bool // whether the database still answered when the job stopped
}

func (y *toy) service(c Common, action string, buildErr error) Service {
	y.jobStarted, y.jobStoppedOK = make(chan struct{}), make(chan bool, 1)
	return Service{
		Name: "shipping", Common: c, Addr: "127.0.0.1:0",
		Migrate: func(ctx context.Context, db *gorm.DB) error {
			return db.WithContext(ctx).Exec("CREATE TABLE IF NOT EXISTS parcels (id TEXT)").Error
		},
		Mapper: func(err error) *httpx.Error {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return httpx.Errorf(http.StatusNotFound, httpx.CodeNotFound, "no such parcel")
			}
			return nil
		},
		Build: func(d Deps) (Parts, error) {
			y.built.Add(1)
			if buildErr != nil {
				return Parts{}, buildErr
			}
			return Parts{
				Actions: []Mounter{Action(shipAction(action))},
				Routes: func(r gin.IRouter) {
					r.GET("/api/v1/parcels/:id", httpx.Handle(func(c *gin.Context) error {
						var n int64
						if err := d.DB.WithContext(c.Request.Context()).Table("parcels").Where("id = ?", c.Param("id")).Count(&n).Error; err != nil {
							return err
						}
						return gorm.ErrRecordNotFound
					}))
					r.PUT("/api/v1/parcels/:id", d.Admin, func(c *gin.Context) { c.Status(http.StatusNoContent) })
				},
				Jobs: []Job{nil, func(ctx context.Context) {
					close(y.jobStarted)
					<-ctx.Done()
					y.jobStoppedOK <- d.DB.Exec("SELECT 1").Error == nil
				}},
				Close: func() { y.closed.Add(1) },
			}, nil
		},
	}
}

func toyCommon(t *testing.T) Common {
	return Common{SQLitePath: t.TempDir() + "/shipping.db", DBMaxConns: 4, Insecure: true, AdminToken: "admin-token",
		MaxBodyBytes: 16 << 10, ShutdownGrace: 5 * time.Second}
}

func call(t *testing.T, method, url string, hdr map[string]string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// TestRunServesAndStops: Run migrates, serves the REST routes on the main listener and
// the actions on the TCC listener only, runs the jobs, and on cancellation stops the
// jobs while the database still answers, releases Build's resources once, and returns nil.
func TestRunServesAndStops(t *testing.T) {
	c := toyCommon(t)
	c.TCCListener = listen(t)
	main := listen(t)
	y := &toy{}
	s := y.service(c, "ship", nil)
	s.Listener = main
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, discard, s) }()

	api, tccURL := "http://"+main.Addr().String(), "http://"+c.TCCListener.Addr().String()
	for _, tc := range []struct {
		method, url string
		hdr         map[string]string
		want        int
	}{
		{"GET", api + "/healthz", nil, http.StatusOK},
		{"GET", api + "/readyz", nil, http.StatusOK},
		{"GET", api + "/api/v1/parcels/p1", nil, http.StatusNotFound}, // through the Mapper
		{"PUT", api + "/api/v1/parcels/p1", nil, http.StatusUnauthorized},
		{"PUT", api + "/api/v1/parcels/p1", map[string]string{"Authorization": "Bearer admin-token"}, http.StatusNoContent},
		{"POST", api + "/tcc/ship/try", nil, http.StatusNotFound},
		{"GET", tccURL + "/api/v1/parcels/p1", nil, http.StatusNotFound},
		{"GET", tccURL + "/healthz", nil, http.StatusOK},
	} {
		if got := call(t, tc.method, tc.url, tc.hdr); got != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.url, got, tc.want)
		}
	}
	if got := call(t, "POST", tccURL+"/tcc/ship/try", nil); got == http.StatusNotFound {
		t.Error("the TCC listener does not serve the action")
	}
	<-y.jobStarted
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if ok := <-y.jobStoppedOK; !ok {
		t.Error("the job stopped after the database closed")
	}
	if y.built.Load() != 1 || y.closed.Load() != 1 {
		t.Errorf("built %d, closed %d times; want 1, 1", y.built.Load(), y.closed.Load())
	}
	db, err := dbx.Open(context.Background(), dbx.Config{SQLitePath: c.SQLitePath})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = dbx.Close(db) }()
	for _, table := range []string{"parcels", tcc.BarrierTable} {
		if !db.Migrator().HasTable(table) {
			t.Errorf("Run did not migrate %s", table)
		}
	}
}

// A configuration error, a Build error or an action that cannot be mounted stops Run
// before anything is served; what Build acquired is released.
func TestRunRefuses(t *testing.T) {
	for _, tc := range []struct {
		name     string
		validate error
		buildErr error
		action   string
		want     string
		built    int32
		closed   int32
	}{
		{"config", errors.New("SHIPPING_ADDR is required"), nil, "ship", "shipping: config: SHIPPING_ADDR is required", 0, 0},
		{"build", nil, errors.New("no carrier"), "ship", "shipping: no carrier", 1, 0},
		{"action", nil, nil, "..", `shipping: tcc: bad action name ".."`, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			y := &toy{}
			s := y.service(toyCommon(t), tc.action, tc.buildErr)
			s.Validate = func() error { return tc.validate }
			err := Run(context.Background(), discard, s)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Run = %v, want %q", err, tc.want)
			}
			if y.built.Load() != tc.built || y.closed.Load() != tc.closed {
				t.Errorf("built %d, closed %d times; want %d, %d", y.built.Load(), y.closed.Load(), tc.built, tc.closed)
			}
		})
	}
}

// Routes wires the service with a separate TCC listener, opens nothing, and lists every
// route once.
func TestRoutes(t *testing.T) {
	y := &toy{}
	var seen map[string]string
	routes, err := Routes("SHIPPING_", func(getenv func(string) string) (Service, error) {
		seen = map[string]string{}
		for _, k := range []string{"TCC_INSECURE", "SHIPPING_SQLITE_PATH", "SHIPPING_TCC_ADDR"} {
			seen[k] = getenv(k)
		}
		c := toyCommon(t)
		c.TCCAddr = getenv("SHIPPING_TCC_ADDR")
		return y.service(c, "ship", nil), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen["TCC_INSECURE"] != "true" || seen["SHIPPING_SQLITE_PATH"] == "" || seen["SHIPPING_TCC_ADDR"] == "" {
		t.Errorf("Routes' environment: %v", seen)
	}
	got := map[string]int{}
	for _, r := range routes {
		got[r.Method+" "+r.Path]++
	}
	for _, want := range []string{"GET /healthz", "GET /readyz", "GET /metrics", "GET /api/v1/parcels/:id",
		"PUT /api/v1/parcels/:id", "POST /tcc/ship/try", "POST /tcc/ship/confirm", "POST /tcc/ship/cancel"} {
		if got[want] != 1 {
			t.Errorf("%s listed %d times, want once", want, got[want])
		}
	}
	if y.closed.Load() != 1 {
		t.Errorf("Build's resources released %d times, want once", y.closed.Load())
	}
	if _, err := Routes("SHIPPING_", func(func(string) string) (Service, error) { return Service{}, errors.New("bad env") }); err == nil {
		t.Error("a configuration error was not returned")
	}
}

func TestEvery(t *testing.T) {
	if Every(0, func(context.Context) {}) != nil || Every(-time.Second, func(context.Context) {}) != nil {
		t.Fatal("a zero or negative interval must disable the job")
	}
	runs := make(chan struct{})
	var after atomic.Int32
	stop := Background(Every(time.Millisecond, func(ctx context.Context) {
		select {
		case runs <- struct{}{}:
		case <-ctx.Done():
			after.Add(1)
		}
	}))
	<-runs
	<-runs
	stop()
	if after.Load() > 1 {
		t.Errorf("%d calls ran after the stop", after.Load())
	}
}

func TestRefuse(t *testing.T) {
	errOut, errGone, errOther := errors.New("out of stock"), errors.New("gone"), errors.New("disk full")
	refusals := []Refusal{{Err: errOut, Code: "OUT_OF_STOCK"}, {Err: errGone, Code: "GONE"}}
	for _, tc := range []struct {
		err  error
		code string // "" : not a refusal
	}{
		{nil, ""},
		{errOther, ""},
		{errOut, "OUT_OF_STOCK"},
		{errors.Join(errors.New("sku A"), errGone), "GONE"},
	} {
		got := Refuse(tc.err, refusals...)
		var rejected *tcc.RejectedError
		switch {
		case tc.code == "" && !errors.Is(got, tc.err):
			t.Errorf("Refuse(%v) = %v, want it unchanged", tc.err, got)
		case tc.code == "" && errors.As(got, &rejected):
			t.Errorf("Refuse(%v) refused", tc.err)
		case tc.code != "" && (!errors.As(got, &rejected) || rejected.Code != tc.code || rejected.Message != tc.err.Error()):
			t.Errorf("Refuse(%v) = %#v, want a refusal %s", tc.err, got, tc.code)
		}
	}
}
