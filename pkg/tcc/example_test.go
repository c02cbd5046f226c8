package tcc_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/glebarez/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// wallet is the business table of the example participant.
type wallet struct {
	ID      string `gorm:"primaryKey"`
	Balance int64
	Frozen  int64
}

type freeze struct {
	Wallet string `json:"wallet"`
	Amount int64  `json:"amount"`
}

// Example shows a complete participant: a "freeze" action whose Try freezes funds with
// a conditional update (refusing with 409 when they are short), whose Confirm spends
// them and whose Cancel releases them, each inside the barrier's local transaction; then
// a coordinator-signed Try and a duplicate of it.
func Example() {
	dir, err := os.MkdirTemp("", "tcc-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = os.RemoveAll(dir) }()
	ctx := context.Background()
	// Any gorm database the barrier supports: here SQLite (pure Go), on one connection
	// with an immediate write lock, so that concurrent phases queue instead of failing
	// busy. On MySQL, keep the driver's clientFoundRows off (tcc.NewBarrier).
	db, err := gorm.Open(sqlite.Open(filepath.Join(dir, "wallets.db")+"?_pragma=busy_timeout(10000)&_txlock=immediate"),
		&gorm.Config{Logger: logger.Default.LogMode(logger.Silent)})
	if err != nil {
		fmt.Println(err)
		return
	}
	sqlDB, err := db.DB()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = sqlDB.Close() }()
	sqlDB.SetMaxOpenConns(1)
	_ = tcc.Migrate(ctx, db)
	_ = db.AutoMigrate(&wallet{})
	db.Create(&wallet{ID: "alice", Balance: 100})

	key := []byte("a-shared-secret-of-32-bytes-----")
	verifier, _ := tcc.NewVerifier(time.Minute, key)
	p, _ := tcc.NewParticipant(tcc.ParticipantConfig{DB: db, Verifier: verifier, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})

	move := func(from, to string) tcc.Handler[freeze] {
		return func(_ context.Context, tx *gorm.DB, b tcc.Branch, f freeze) error {
			res := tx.Model(&wallet{}).Where("id = ? AND "+from+" >= ?", f.Wallet, f.Amount).
				Updates(map[string]any{from: gorm.Expr(from+" - ?", f.Amount), to: gorm.Expr(to+" + ?", f.Amount)})
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 0 && b.Phase == tcc.PhaseTry {
				return tcc.Reject("INSUFFICIENT_FUNDS", "balance too low")
			}
			return nil
		}
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	_ = tcc.Mount(r, p, tcc.Action[freeze]{
		Name: "freeze",
		Try:  move("balance", "frozen"),
		Confirm: func(ctx context.Context, tx *gorm.DB, b tcc.Branch, f freeze) error {
			return move("frozen", "frozen")(ctx, tx, b, freeze{f.Wallet, 0})
		},
		Cancel: move("frozen", "balance"),
	})
	srv := httptest.NewServer(r)
	defer srv.Close()

	// What a coordinator sends.
	signer, _ := tcc.NewSigner(key)
	send := func(amount int64) string {
		body := fmt.Sprintf(`{"wallet":"alice","amount":%d}`, amount)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/tcc/freeze/try", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(tcc.HeaderXID, "xid-1")
		req.Header.Set(tcc.HeaderBranchID, fmt.Sprint("b-", amount))
		req.Header.Set(tcc.HeaderDeadline, tcc.FormatDeadline(time.Now().Add(10*time.Second)))
		signer.Sign(req.Header, req.Method, req.URL.Path, []byte(body), time.Now())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err.Error()
		}
		defer func() { _ = resp.Body.Close() }()
		out, _ := io.ReadAll(resp.Body)
		return fmt.Sprint(resp.StatusCode, " ", strings.TrimSpace(string(out)))
	}
	fmt.Println(send(60))
	fmt.Println(send(60)) // the same branch again: a duplicate, nothing frozen twice
	fmt.Println(send(70)) // another branch: not enough left
	var w wallet
	db.First(&w, "id = ?", "alice")
	fmt.Println("balance", w.Balance, "frozen", w.Frozen)
	// Output:
	// 200 {"xid":"xid-1","branch_id":"b-60","phase":"try","outcome":"applied"}
	// 200 {"xid":"xid-1","branch_id":"b-60","phase":"try","outcome":"duplicate"}
	// 409 {"code":"INSUFFICIENT_FUNDS","message":"balance too low"}
	// balance 40 frozen 60
}
