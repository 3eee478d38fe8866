package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// The database and its backups hold password hashes and sealed secrets: only their owner
// may read them, from their first byte. Files SQLite makes beside the database (-wal,
// -shm) take the database file's mode.

// createOwnerOnly creates the empty file path (an empty file is an empty SQLite database)
// readable by its owner alone, unless it exists already.
func createOwnerOnly(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: create %s: %w", path, err)
	}
	return f.Close()
}

// Backup writes a consistent copy of the database to path, which must not exist, while
// other connections may be writing (VACUUM INTO). SQLite creates the copy under the umask,
// so it is made in a directory only the owner can enter, restricted, and only then given
// its name. It copies SQLite files only.
func (s *Store) Backup(ctx context.Context, path string) error {
	if s.d != &sqliteDialect {
		return errors.New("store: backup copies a SQLite file: back a PostgreSQL database up with pg_dump (and keep the key file with it)")
	}
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("store: backup: %s already exists: choose a new file", path)
	}
	dir, err := os.MkdirTemp(filepath.Dir(path), ".scmadmin-backup-*") // 0700
	if err != nil {
		return fmt.Errorf("store: backup to %s: %w", path, err)
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "backup.db")
	if _, err := s.w.ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		return fmt.Errorf("store: backup to %s: %w", path, err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fmt.Errorf("store: backup to %s: %w", path, err)
	}
	// A link, unlike a rename, never replaces a file made at path meanwhile.
	if err := os.Link(tmp, path); err != nil {
		return fmt.Errorf("store: backup to %s: %w", path, err)
	}
	return nil
}
