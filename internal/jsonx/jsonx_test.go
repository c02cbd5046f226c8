package jsonx_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tccsuite/tccsuite/internal/jsonx"
	"github.com/tccsuite/tccsuite/pkg/tcc/jsonbody"
)

// TestSameAsSDK: jsonx is the SDK's reader under the suite's name: the same error
// values, the same answers (the full cases are jsonbody's tests).
func TestSameAsSDK(t *testing.T) {
	for _, tc := range []struct {
		name       string
		jsonx, sdk error
	}{
		{"media type", jsonx.ErrMediaType, jsonbody.ErrMediaType},
		{"too large", jsonx.ErrTooLarge, jsonbody.ErrTooLarge},
		{"unreadable", jsonx.ErrUnreadable, jsonbody.ErrUnreadable},
	} {
		if !errors.Is(tc.jsonx, tc.sdk) {
			t.Errorf("%s: jsonx's %v is not the SDK's", tc.name, tc.jsonx)
		}
	}
	for _, tc := range []struct {
		ctype, body string
		want        error
	}{
		{"application/json", `{}`, nil},
		{"text/plain", `{}`, jsonbody.ErrMediaType},
		{"application/json", strings.Repeat(" ", 11), jsonbody.ErrTooLarge},
	} {
		r := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/", strings.NewReader(tc.body))
		r.Header.Set("Content-Type", tc.ctype)
		if _, err := jsonx.ReadBody(httptest.NewRecorder(), r, 10); !errors.Is(err, tc.want) {
			t.Errorf("ReadBody(%s, %q): %v, want %v", tc.ctype, tc.body, err, tc.want)
		}
	}
	var v struct{ N int }
	for in, want := range map[string]string{`{"N":1}`: "", `{"M":1}`: `unknown field "M"`, `{"N":1}}`: "trailing data"} {
		got := ""
		if err := jsonx.DecodeStrict([]byte(in), &v); err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("DecodeStrict(%s): %q, want %q", in, got, want)
		}
	}
}
