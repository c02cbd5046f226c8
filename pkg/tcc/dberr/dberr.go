// Package dberr classifies the errors of the databases the barrier supports (MySQL or
// MariaDB through github.com/go-sql-driver/mysql, and SQLite through any driver whose
// errors have a Code() int method) into the two kinds a caller must not treat as a
// definite failure. The participant adapter of package tcc answers both with 503
// TCC_RETRY; a service may use them the same way. No error text is read, and no SQLite
// engine is linked in.
package dberr

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"syscall"

	mysqldrv "github.com/go-sql-driver/mysql"
)

// MySQL server error numbers.
const (
	erTooManyConnections   = 1040
	erServerShutdown       = 1053
	erNormalShutdown       = 1077
	erShutdownComplete     = 1079
	erAbortingConnection   = 1152
	erNetReadError         = 1158
	erNetReadInterrupted   = 1159
	erNetErrorOnWrite      = 1160
	erNetWriteInterrupted  = 1161
	erLockWaitTimeout      = 1205
	erLockDeadlock         = 1213
	erOptionPreventsStmt   = 1290 // e.g. running with --read-only
	erReadOnlyMode         = 1836
	erConnectionKilled     = 1927
	erClientInteractionTmo = 4031 // disconnected by the server for inactivity
)

// SQLite primary result codes (the low byte of an extended code).
const (
	sqliteBusy   = 5
	sqliteLocked = 6
)

// IsRetryable reports whether err is a transient database conflict after which the
// whole local transaction was rolled back and may be run again: a MySQL deadlock (1213)
// or lock wait timeout (1205), or SQLite busy or locked (5, 6 and their extended codes).
// It looks through wrapped errors; nil is not retryable.
func IsRetryable(err error) bool {
	var me *mysqldrv.MySQLError
	if errors.As(err, &me) {
		return me.Number == erLockDeadlock || me.Number == erLockWaitTimeout
	}
	var coder interface{ Code() int }
	if errors.As(err, &coder) {
		c := coder.Code() & 0xff
		return c == sqliteBusy || c == sqliteLocked
	}
	return false
}

// IsUnavailable reports whether err says the database could not be reached or went
// away mid-call: connection refused or reset, the server shutting down or restarting, a
// killed or lost connection, too many connections, the server read-only (a fail-over in
// progress). The statement did not commit unless it was a COMMIT whose answer was lost;
// callers answer 503 with Retry-After and never treat it as a definite failure. It looks
// through wrapped errors; nil is not unavailable.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysqldrv.ErrInvalidConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne *net.OpError
	if errors.As(err, &ne) {
		return true
	}
	var me *mysqldrv.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case erTooManyConnections, erServerShutdown, erNormalShutdown, erShutdownComplete,
			erAbortingConnection, erNetReadError, erNetReadInterrupted, erNetErrorOnWrite,
			erNetWriteInterrupted, erOptionPreventsStmt, erReadOnlyMode, erConnectionKilled,
			erClientInteractionTmo:
			return true
		}
	}
	return false
}

// IsTransient reports whether the same call may well succeed if repeated: a conflict
// (IsRetryable) or the database being unavailable (IsUnavailable).
func IsTransient(err error) bool { return IsRetryable(err) || IsUnavailable(err) }
