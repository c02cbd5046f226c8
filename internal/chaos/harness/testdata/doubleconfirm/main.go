// Command doubleconfirm is a deliberately broken inventory, built only by the harness's
// test: it speaks the inventory's API and TCC action, but its Confirm sells the reserved
// quantity twice. The harness must report the broken invariants. It lives in testdata so
// that no production build contains it.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/internal/dbx"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

type stock struct {
	SKU       string `gorm:"primaryKey;size:64"`
	Price     int64
	Available int64
	Reserved  int64
	Sold      int64
}

type reservation struct {
	OrderID   string `json:"order_id"`
	SKU       string `json:"sku"`
	Quantity  int64  `json:"quantity"`
	UnitPrice int64  `json:"unit_price"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "doubleconfirm:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	db, err := dbx.Open(ctx, dbx.Config{MySQLDSN: os.Getenv("INVENTORY_MYSQL_DSN")})
	if err != nil {
		return err
	}
	if err := tcc.Migrate(ctx, db); err != nil {
		return err
	}
	if err := db.AutoMigrate(&stock{}); err != nil {
		return err
	}
	v, err := tcc.NewVerifier(time.Minute, []byte(os.Getenv("TCC_HMAC_KEY")))
	if err != nil {
		return err
	}
	p, err := tcc.NewParticipant(tcc.ParticipantConfig{DB: db, Verifier: v})
	if err != nil {
		return err
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	move := func(from, to string, times int64) tcc.Handler[reservation] {
		return func(ctx context.Context, tx *gorm.DB, b tcc.Branch, res reservation) error {
			q := tx.Model(&stock{}).Where("sku = ?", res.SKU)
			if from != "" {
				q = q.Where(from+" >= ?", res.Quantity)
			}
			upd := map[string]any{to: gorm.Expr(to+" + ?", res.Quantity*times)}
			if from != "" {
				upd[from] = gorm.Expr(from+" - ?", res.Quantity)
			}
			out := q.Updates(upd)
			if out.Error != nil {
				return out.Error
			}
			if out.RowsAffected == 0 {
				if b.Phase == tcc.PhaseTry {
					return tcc.Reject("OUT_OF_STOCK", "not enough stock")
				}
				return errors.New("nothing to move")
			}
			return nil
		}
	}
	err = tcc.Mount(r, p, tcc.Action[reservation]{
		Name:    "reserve",
		Try:     move("available", "reserved", 1),
		Confirm: move("reserved", "sold", 2), // THE BUG: sells twice what was reserved
		Cancel:  move("reserved", "available", 1),
	})
	if err != nil {
		return err
	}
	r.GET("/healthz", func(c *gin.Context) { c.JSON(200, gin.H{"status": "ok"}) })
	r.GET("/readyz", func(c *gin.Context) { c.JSON(200, gin.H{"status": "ok"}) })
	r.GET("/api/v1/stock/:sku", func(c *gin.Context) {
		var s stock
		if err := db.First(&s, "sku = ?", c.Param("sku")).Error; err != nil {
			c.JSON(404, gin.H{"code": "NOT_FOUND", "message": "no such SKU"})
			return
		}
		c.JSON(200, gin.H{"sku": s.SKU, "price": s.Price, "available": s.Available, "reserved": s.Reserved, "sold": s.Sold})
	})
	r.PUT("/api/v1/stock/:sku", func(c *gin.Context) {
		var b struct{ Price, Available int64 }
		if err := c.ShouldBindJSON(&b); err != nil {
			c.JSON(400, gin.H{"code": "BAD_REQUEST", "message": err.Error()})
			return
		}
		s := stock{SKU: c.Param("sku"), Price: b.Price, Available: b.Available}
		if err := db.Save(&s).Error; err != nil {
			c.JSON(500, gin.H{"code": "INTERNAL", "message": "internal error"})
			return
		}
		c.JSON(200, gin.H{"sku": s.SKU, "price": s.Price, "available": s.Available})
	})
	srv := &http.Server{Addr: os.Getenv("INVENTORY_ADDR"), Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
