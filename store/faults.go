package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Heartbeat proves that the database can be written: it commits one small write, to its own
// row, which no data version counts (no trigger watches it): the caches stay valid.
func (s *Store) Heartbeat(ctx context.Context) error {
	_, err := s.exec(ctx,
		`INSERT INTO heartbeat (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at`, s.now())
	if err != nil {
		return fmt.Errorf("store: heartbeat: %w", err)
	}
	return nil
}

// Unwritable reports whether err is the database refusing a write for a reason of its
// file, not of the write — a full disk, a read-only file, a failing device — and says which.
func Unwritable(err error) (cause string, ok bool) {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return "", false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_FULL:
		return "disk full", true
	case sqlite3.SQLITE_READONLY:
		return "the file is read-only", true
	case sqlite3.SQLITE_IOERR:
		return "the disk refused a write (disk full, or failing)", true
	case sqlite3.SQLITE_CANTOPEN:
		return "a file of the database cannot be opened for writing", true
	}
	return "", false
}

// Unreachable reports whether err is the database server out of reach — refusing or dropping
// connections, or shutting down — rather than refusing the request: the request may succeed
// once it is back, and nothing of it was committed unless it said so.
func Unreachable(err error) bool {
	var (
		connect *pgconn.ConnectError
		pe      *pgconn.PgError
	)
	switch {
	case err == nil:
		return false
	case errors.As(err, &connect), pgconn.SafeToRetry(err), errors.Is(err, driver.ErrBadConn),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED):
		return true
	case errors.As(err, &pe):
		// Class 08, connection exception; 57P01–57P03, the server shutting down or starting.
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	return strings.Contains(err.Error(), "conn closed") // pgconn's own word for a connection it closed
}
