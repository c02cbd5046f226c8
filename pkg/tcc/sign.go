package tcc

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// AuthScheme is the Authorization scheme of coordinator-signed calls:
//
//	Authorization: TCC-HMAC-SHA256 t=<unix milliseconds>,s=<base64url signature>
//
// The signature is HMAC-SHA256 over the canonical string
//
//	"TCC1\n" + method + "\n" + path + "\n" + xid + "\n" + branch_id + "\n" +
//	deadline + "\n" + t + "\n" + hex(sha256(body))
//
// so a signed call cannot be moved to another path, branch, transaction or deadline, nor
// have its body changed. A captured call can be replayed only within the allowed clock
// skew, and then it is exactly a duplicate delivery, which the barrier answers without
// doing anything again.
const AuthScheme = "TCC-HMAC-SHA256"

// ErrUnauthorized is the error of Verify when the call is unsigned, badly signed, or
// its timestamp is outside the allowed skew. Nothing was done.
var ErrUnauthorized = errors.New("tcc: unauthorized")

// MinKeyLen is the shortest accepted HMAC key, in bytes.
const MinKeyLen = 16

// Signer signs participant calls with a shared secret. It is safe for concurrent use.
type Signer struct {
	key []byte
}

// NewSigner returns a Signer for key, which must be at least MinKeyLen bytes.
func NewSigner(key []byte) (*Signer, error) {
	if len(key) < MinKeyLen {
		return nil, fmt.Errorf("tcc: HMAC key must be at least %d bytes", MinKeyLen)
	}
	return &Signer{key: append([]byte(nil), key...)}, nil
}

// Sign sets the Authorization header on h for a call of method to path with body. It
// reads the XID, branch ID and deadline from h, so set those first.
func (s *Signer) Sign(h http.Header, method, path string, body []byte, now time.Time) {
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	mac := computeMAC(s.key, method, path, h.Get(HeaderXID), h.Get(HeaderBranchID), h.Get(HeaderDeadline), ts, body)
	h.Set(HeaderAuth, AuthScheme+" t="+ts+",s="+base64.RawURLEncoding.EncodeToString(mac))
}

// Verifier checks coordinator signatures. It accepts any of its keys, so a key can be
// rotated by deploying participants with old and new keys before switching coordinators.
type Verifier struct {
	keys    [][]byte
	maxSkew time.Duration
}

// NewVerifier returns a Verifier accepting signatures by any of keys whose timestamp is
// within maxSkew of the participant's clock (default 1 minute when zero).
func NewVerifier(maxSkew time.Duration, keys ...[]byte) (*Verifier, error) {
	if len(keys) == 0 {
		return nil, errors.New("tcc: a verifier needs at least one key")
	}
	v := &Verifier{maxSkew: maxSkew}
	if v.maxSkew <= 0 {
		v.maxSkew = time.Minute
	}
	for _, k := range keys {
		if len(k) < MinKeyLen {
			return nil, fmt.Errorf("tcc: HMAC key must be at least %d bytes", MinKeyLen)
		}
		v.keys = append(v.keys, append([]byte(nil), k...))
	}
	return v, nil
}

// Verify checks the Authorization header of a call. It returns an error wrapping
// ErrUnauthorized when the call must be refused.
func (v *Verifier) Verify(h http.Header, method, path string, body []byte, now time.Time) error {
	auth := h.Get(HeaderAuth)
	rest, ok := strings.CutPrefix(auth, AuthScheme+" ")
	if !ok {
		return fmt.Errorf("%w: missing %s authorization", ErrUnauthorized, AuthScheme)
	}
	var ts, sig string
	for _, part := range strings.Split(rest, ",") {
		k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = val
		case "s":
			sig = val
		}
	}
	msec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || ts == "" {
		return fmt.Errorf("%w: bad timestamp", ErrUnauthorized)
	}
	skew := now.Sub(time.UnixMilli(msec))
	if skew > v.maxSkew || skew < -v.maxSkew {
		return fmt.Errorf("%w: timestamp outside the allowed skew", ErrUnauthorized)
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: bad signature encoding", ErrUnauthorized)
	}
	for _, k := range v.keys {
		want := computeMAC(k, method, path, h.Get(HeaderXID), h.Get(HeaderBranchID), h.Get(HeaderDeadline), ts, body)
		if hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("%w: signature mismatch", ErrUnauthorized)
}

func computeMAC(key []byte, method, path, xid, branch, deadline, ts string, body []byte) []byte {
	sum := sha256.Sum256(body)
	m := hmac.New(sha256.New, key)
	for _, s := range []string{"TCC1", method, path, xid, branch, deadline, ts} {
		m.Write([]byte(s))
		m.Write([]byte{'\n'})
	}
	m.Write([]byte(hex.EncodeToString(sum[:])))
	return m.Sum(nil)
}
