// Package jsonx reads JSON request bodies the way every tccsuite API does: only
// application/json, a size limit, exactly one value, no unknown fields. Its errors are
// safe to show a client; each API maps them to its own status codes and error codes.
//
// It is the suite's name for the participant SDK's reader (pkg/tcc/jsonbody), so that
// the services' own APIs and their TCC endpoints refuse exactly the same inputs, with
// one implementation.
package jsonx

import (
	"net/http"

	"github.com/tccsuite/tccsuite/pkg/tcc/jsonbody"
)

// Errors of ReadBody: the SDK's own values, so errors.Is matches either name.
var (
	ErrMediaType  = jsonbody.ErrMediaType
	ErrTooLarge   = jsonbody.ErrTooLarge
	ErrUnreadable = jsonbody.ErrUnreadable
)

// ReadBody checks that r carries JSON and reads its body, at most limit bytes (checked
// from Content-Length first, then while reading a chunked body); see jsonbody.ReadBody.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	return jsonbody.ReadBody(w, r, limit)
}

// DecodeStrict decodes exactly one JSON value from body into v, refusing unknown fields
// and trailing data, with an error fit for a client; see jsonbody.DecodeStrict.
func DecodeStrict(body []byte, v any) error { return jsonbody.DecodeStrict(body, v) }
