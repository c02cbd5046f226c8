package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/tccsuite/tccsuite/internal/dbx"
)

// Errors of the engine, mapped to HTTP answers by the API.
var (
	// ErrNotReady: this instance holds no live lease (or is shutting down); nothing was
	// stored. Try again, here or elsewhere.
	ErrNotReady = errors.New("engine: not ready")
	// ErrIdempotencyMismatch: the idempotency key was used with a different request.
	ErrIdempotencyMismatch = errors.New("engine: idempotency key reused with a different request")
	// ErrNotFound: no such transaction.
	ErrNotFound = errors.New("engine: transaction not found")
	// ErrOwnedElsewhere: a live coordinator drives this transaction; ask it.
	ErrOwnedElsewhere = errors.New("engine: transaction driven by another live coordinator")
	// ErrUnavailable: the database could not be reached (or was busy) and the call was
	// not done; try again later. For a begin, the transaction may have been stored
	// anyway if only the commit's answer was lost: it is then cancelled by recovery at
	// its deadline, never run.
	ErrUnavailable = errors.New("engine: database unavailable")
)

// CodeLocked is the refusal code of a transaction whose lock keys stayed held by another
// transaction until its deadline.
const CodeLocked = "LOCKED"

// storeErr wraps a store error, marking it ErrUnavailable when the database was
// unreachable, busy, or did not answer in time.
func storeErr(op string, err error) error {
	if isTransient(err) {
		return fmt.Errorf("engine: %s: %w: %w", op, ErrUnavailable, err)
	}
	return fmt.Errorf("engine: %s: %w", op, err)
}

// isTransient reports whether a store error may go away by itself (the database
// unreachable, busy, or slow): a write that failed so is retried.
func isTransient(err error) bool {
	return dbx.IsTransient(err) || errors.Is(err, context.DeadlineExceeded)
}
