package jsonbody

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
)

type body struct {
	Name string `json:"name"`
	N    int64  `json:"n"`
}

func TestDecodeStrict(t *testing.T) {
	for in, want := range map[string]string{
		`{"name":"a","n":1}`:                    "",
		`{"name":"a","n":"1"}`:                  `field "n" must be int64`,
		`{"name":"a","extra":1}`:                `unknown field "extra"`,
		`{"name":"a"} {}`:                       "trailing data",
		`{"name":"a"}}`:                         "trailing data",
		`{"name":"a"}]`:                         "trailing data",
		`{"name":"a"} x`:                        "trailing data",
		"{\"name\":\"a\"} \n\t":                 "",
		``:                                      "empty body",
		`{"name":`:                              "the body ends in the middle of a value",
		`{"name":"a",}`:                         "syntax error at byte 13",
		"{\"name\x00\":1}":                      "syntax error at byte 7",
		`[1,2]`:                                 `field "" must be jsonbody.body`,
		`{"n":` + "9" + `99999999999999999999}`: `field "n" must be int64`,
	} {
		var b body
		err := DecodeStrict([]byte(in), &b)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

func TestReadBody(t *testing.T) {
	req := func(ctype, body string, chunked bool) *http.Request {
		r := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/", strings.NewReader(body))
		r.Header.Set("Content-Type", ctype)
		if chunked {
			r.ContentLength = -1
		}
		return r
	}
	// broken's body fails mid-read, as when the client goes away.
	broken := req("application/json", "", true)
	broken.Body = io.NopCloser(io.MultiReader(strings.NewReader("{"), iotest.ErrReader(io.ErrUnexpectedEOF)))
	for name, tc := range map[string]struct {
		r    *http.Request
		want error
	}{
		"ok":                 {req("application/json; charset=utf-8", `{}`, false), nil},
		"wrong type":         {req("text/plain", `{}`, false), ErrMediaType},
		"no type":            {req("", `{}`, false), ErrMediaType},
		"too large":          {req("application/json", strings.Repeat(" ", 11), false), ErrTooLarge},
		"too large, chunked": {req("application/json", strings.Repeat(" ", 11), true), ErrTooLarge},
		"unreadable":         {broken, ErrUnreadable},
	} {
		b, err := ReadBody(httptest.NewRecorder(), tc.r, 10)
		if !errors.Is(err, tc.want) || (err == nil && string(b) != `{}`) {
			t.Errorf("%s: %q, %v; want %v", name, b, err, tc.want)
		}
	}
}
