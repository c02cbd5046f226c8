package httpx

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/tccsuite/tccsuite/internal/jsonx"
)

// DecodeJSON reads a JSON request body into v strictly, or returns the *Error to answer:
// Content-Type must be application/json (415 UNSUPPORTED_MEDIA_TYPE), the body at most
// maxBytes (413 PAYLOAD_TOO_LARGE; reading stops there), one JSON value with no unknown
// field, the right types and no trailing data (400 BAD_REQUEST). On an error v may be
// partly filled.
func DecodeJSON(c *gin.Context, maxBytes int64, v any) error {
	body, err := jsonx.ReadBody(c.Writer, c.Request, maxBytes)
	switch {
	case errors.Is(err, jsonx.ErrMediaType):
		return Errorf(http.StatusUnsupportedMediaType, CodeUnsupportedMedia, "Content-Type must be application/json")
	case errors.Is(err, jsonx.ErrTooLarge):
		return Errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "the body is over %d bytes", maxBytes)
	case err != nil:
		return Errorf(http.StatusBadRequest, CodeBadRequest, "could not read the body")
	}
	return Unmarshal(body, v)
}

// Unmarshal decodes one strict JSON value (no unknown fields, no trailing data) into v,
// or returns a 400 BAD_REQUEST *Error saying what is wrong.
func Unmarshal(body []byte, v any) error {
	if err := jsonx.DecodeStrict(body, v); err != nil {
		return Errorf(http.StatusBadRequest, CodeBadRequest, "invalid JSON body: %s", err)
	}
	return nil
}
