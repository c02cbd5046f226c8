package platform

import (
	"errors"
	"log/slog"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"github.com/tccsuite/tccsuite/internal/httpx"
	"github.com/tccsuite/tccsuite/pkg/tcc"
)

// NewParticipant builds the TCC participant of a service from the shared settings: calls
// are verified with TCC_HMAC_KEY (signatures valid for a minute), or accepted unsigned
// only when TCC_INSECURE is set and no key is; its metrics go on m's registry.
func (c Common) NewParticipant(db *gorm.DB, log *slog.Logger, m *httpx.Metrics) (*tcc.Participant, error) {
	var v *tcc.Verifier
	if c.HMACKey != "" {
		var err error
		if v, err = tcc.NewVerifier(time.Minute, []byte(c.HMACKey)); err != nil {
			return nil, err
		}
	}
	return tcc.NewParticipant(tcc.ParticipantConfig{
		DB: db, Verifier: v, Insecure: c.Insecure && v == nil, Logger: log, Registerer: m.Registry,
	})
}

// Mounter mounts one TCC action on a participant's routes (see Action).
type Mounter func(r gin.IRouter, p *tcc.Participant) error

// Action returns the Mounter of a: tcc.Mount, typed by a's payload.
func Action[P any](a tcc.Action[P]) Mounter {
	return func(r gin.IRouter, p *tcc.Participant) error { return tcc.Mount(r, p, a) }
}

// Refusal names the TCC refusal code a Try answers for a domain error.
type Refusal struct {
	Err  error
	Code string
}

// Refuse returns err as the business refusal (tcc.Reject: the Try rolls back and answers
// 409 with the code and err's text) of the first refusal whose Err it is (errors.Is);
// otherwise err unchanged (nil stays nil, other errors are technical failures).
func Refuse(err error, refusals ...Refusal) error {
	for _, r := range refusals {
		if errors.Is(err, r.Err) {
			return tcc.Reject(r.Code, err.Error())
		}
	}
	return err
}
