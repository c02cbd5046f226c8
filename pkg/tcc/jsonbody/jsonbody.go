// Package jsonbody reads JSON request bodies strictly: only application/json, a size
// limit, exactly one value, no unknown fields. The participant adapter of package tcc
// reads every phase call through it, and a service may use it for its own API so that
// both refuse the same inputs. Its errors are safe to show a client; each API maps them
// to its own status codes and error codes.
package jsonbody

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
)

// Errors of ReadBody; compare with errors.Is.
var (
	// ErrMediaType: the Content-Type is missing or is not application/json.
	ErrMediaType = errors.New("Content-Type must be application/json")
	// ErrTooLarge: the body is longer than the limit.
	ErrTooLarge = errors.New("the body is over the size limit")
	// ErrUnreadable: reading the body failed (the client went away mid-body).
	ErrUnreadable = errors.New("could not read the body")
)

// ReadBody checks that r carries JSON and reads its body, at most limit bytes (checked
// from Content-Length first, then while reading a chunked body). Over the limit it stops
// reading and returns ErrTooLarge; w is used only to tell the server to close the
// connection then (http.MaxBytesReader). The body can be read only once.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, ErrMediaType
	}
	if r.ContentLength > limit {
		return nil, ErrTooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, ErrTooLarge
		}
		return nil, ErrUnreadable
	}
	return body, nil
}

// DecodeStrict decodes exactly one JSON value from body into v, refusing unknown fields
// and trailing data. The error says what is wrong in words fit for a client ("syntax
// error at byte 12", "field \"quantity\" must be int64", "unknown field \"price\"",
// "empty body", "trailing data"), never echoing more than a short piece of the input.
// On error v may have been partly filled.
func DecodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errors.New(describe(err))
	}
	// Only white space may follow the value. dec.More() is not enough: it reports false
	// before a stray '}' or ']', so `{"a":1}}` would pass.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data")
	}
	return nil
}

func describe(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %s must be %s", strconv.Quote(clip(te.Field)), te.Type)
	case errors.Is(err, io.EOF):
		return "empty body"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the body ends in the middle of a value"
	}
	// encoding/json's remaining messages ("json: unknown field \"x\"", invalid
	// characters) are short; clip and quote them so nothing odd reaches a log or client.
	msg := err.Error()
	if len(msg) > 5 && msg[:5] == "json:" {
		msg = msg[5:]
		for len(msg) > 0 && msg[0] == ' ' {
			msg = msg[1:]
		}
	}
	return clip(msg)
}

func clip(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return strconv.Quote(s)
		}
	}
	return s
}
