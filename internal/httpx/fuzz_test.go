package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

// placeBody has the shape of the order API's body; stockBody of the admin PUTs (pointers
// tell a missing field from a zero).
type placeBody struct {
	UserID   string `json:"user_id"`
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
}

type stockBody struct {
	Price     *int64 `json:"price"`
	Available *int64 `json:"available"`
}

// FuzzDecodeJSON: every public body goes through DecodeJSON. Whatever arrives, it answers
// a 4xx *Error with a stable code, or a value that is exactly what the body said (the
// decode is strict: one value, known fields only).
func FuzzDecodeJSON(f *testing.F) {
	f.Add("application/json", []byte(`{"user_id":"alice","sku":"WIDGET","quantity":2}`))
	f.Add("application/json; charset=utf-8", []byte(`{"price":1,"available":0}`))
	f.Add("text/plain", []byte(`{}`))
	f.Add("application/json", []byte(`{"quantity":"2"}`))
	f.Add("application/json", []byte(`{"quantity":2}{"quantity":3}`))
	f.Add("application/json", []byte(`{"unknown":1}`))
	f.Add("application/json", []byte(`{"quantity":2}}`))
	f.Add("application/json", []byte(``))
	f.Add("application/json", bytes.Repeat([]byte(" "), 600))
	gin.SetMode(gin.ReleaseMode)
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		for _, target := range []any{&placeBody{}, &stockBody{}} {
			w := httptest.NewRecorder()
			c, _ := gin.CreateTestContext(w)
			c.Request = httptest.NewRequestWithContext(context.Background(), http.MethodPost, "/", bytes.NewReader(body))
			c.Request.Header.Set("Content-Type", ctype)
			err := DecodeJSON(c, 512, target)
			if err != nil {
				var e *Error
				if !errors.As(err, &e) || e.Status < 400 || e.Status > 499 || e.Code == "" || e.Message == "" {
					t.Fatalf("refusal %#v is not a 4xx with a code and a message", err)
				}
				continue
			}
			if len(body) > 512 {
				t.Fatalf("accepted a %d-byte body over the limit", len(body))
			}
			// Strictness: the body had no field the type lacks (encoding/json matches
			// field names case-insensitively, so compare them so).
			again, _ := json.Marshal(target)
			var m1, m2 map[string]any
			if json.Unmarshal(body, &m1) != nil {
				t.Fatalf("accepted %q, which is not a JSON object", body)
			}
			_ = json.Unmarshal(again, &m2)
			known := map[string]bool{}
			for k := range m2 {
				known[strings.ToLower(k)] = true
			}
			for k := range m1 {
				if !known[strings.ToLower(k)] {
					t.Fatalf("accepted unknown field %q in %q", k, body)
				}
			}
		}
	})
}

// FuzzAdminAuth: only the exact bearer token passes.
func FuzzAdminAuth(f *testing.F) {
	f.Add("Bearer secret-token")
	f.Add("Bearer secret-token ")
	f.Add("bearer secret-token")
	f.Add("Bearer ")
	f.Add("")
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/", AdminAuth("secret-token"), func(c *gin.Context) { c.Status(http.StatusNoContent) })
	f.Fuzz(func(t *testing.T, auth string) {
		req := httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/", nil)
		req.Header.Set("Authorization", auth)
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		passed := w.Code == http.StatusNoContent
		if passed != (req.Header.Get("Authorization") == "Bearer secret-token") {
			t.Fatalf("Authorization %q: status %d", auth, w.Code)
		}
		if !passed && w.Code != http.StatusUnauthorized {
			t.Fatalf("Authorization %q: status %d, want 401", auth, w.Code)
		}
	})
}
