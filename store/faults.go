package store

import (
	"context"
	"errors"
	"fmt"

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
