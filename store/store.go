// Package store keeps scmadmin's state in SQLite or PostgreSQL: users, sessions and SCM
// configurations, with every secret encrypted under the keyring before it reaches the database.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scmadmin/scmadmin/store/keyring"
)

var (
	// ErrNotFound is returned when the row asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrDuplicate is returned when a unique constraint refuses a write.
	ErrDuplicate = errors.New("duplicate")
	// ErrIDTaken is returned when a configuration's id is, or was, another's.
	ErrIDTaken = errors.New("id taken")
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFS embed.FS

// Store is the database. It is safe for concurrent use. Reads share a pool of connections;
// every write goes through one connection, so writers queue in Go instead of meeting
// SQLite's busy lock and its sleeps.
type Store struct {
	db   *sql.DB // readers
	w    *sql.DB // the one writer
	d    *dialect
	keys *keyring.Keyring
	now  func() time.Time
	// stmts holds the readers' prepared statements by SQL text: parsing a query cost as much
	// as running it. The store's queries are a fixed set, so it stays small.
	stmts sync.Map
	// Under writesMu: writes holds the writer's prepared statements by SQL text (see wtx),
	// toPrepare those a transaction ran unprepared, and unprepared counts such runs. The
	// writer's transactions run one at a time, so the lock is never waited for long.
	writesMu   sync.Mutex
	writes     map[string]*sql.Stmt
	toPrepare  map[string]bool
	unprepared int
	// changes is the database's change file (see ChangeToken), nil on PostgreSQL; local
	// counts this process's commits, which change the token even when the file cannot be written.
	changes *os.File
	local   atomic.Uint64
	// versionsSum is the sum of the data versions that this store's last write transaction saw.
	versionsSum atomic.Int64
	// hookWake is set while the build hook is on (StartBuildHook): builds are then queued in
	// its outbox, and the worker is woken through it.
	hookWake atomic.Pointer[chan struct{}]
	// batch gathers the deliveries written together (see inBatch).
	batch *batcher
	// remote moves, on PostgreSQL, with every other server's commit (see listen); listening
	// says whether it learns of them through LISTEN now. stopListening ends listen, which
	// closes listened when it has.
	remote        atomic.Uint64
	listening     atomic.Bool
	stopListening context.CancelFunc
	listened      chan struct{}
}

// Open opens the database at dsn, a SQLite file's path (created if needed) or a
// postgres:// (postgresql://) URL, and migrates it to the latest schema. Secrets are sealed
// and opened with keys.
func Open(ctx context.Context, dsn string, keys *keyring.Keyring) (*Store, error) {
	if IsPostgres(dsn) {
		return openPostgres(ctx, dsn, keys)
	}
	return openSQLite(ctx, dsn, keys)
}

// openSQLite opens (creating if needed) the SQLite database at path.
func openSQLite(ctx context.Context, path string, keys *keyring.Keyring) (*Store, error) {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "foreign_keys(1)", "busy_timeout(5000)", "synchronous(NORMAL)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate") // writers take the lock up front instead of failing on upgrade
	q.Set("_time_format", "sqlite")
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("store: the database path %q must not contain ? or #", path)
	}
	if err := createOwnerOnly(path); err != nil {
		return nil, err
	}
	w, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	q.Add("_pragma", "query_only(1)")
	// Readers keep 512 KiB of pages each, not SQLite's 2 MiB: the web layer caches what
	// pages read most, and the pool's caches were a quarter of the server's memory.
	q.Add("_pragma", "cache_size(-512)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	readers := max(4, 2*runtime.NumCPU())
	db.SetMaxOpenConns(readers)
	db.SetMaxIdleConns(readers) // the default of 2 would reopen connections under load
	s := &Store{db: db, w: w, d: &sqliteDialect, keys: keys, batch: newBatcher(), now: func() time.Time { return time.Now().UTC() }}
	if s.changes, err = os.OpenFile(path+"-changes", os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		s.Close()
		return nil, fmt.Errorf("store: open the change file beside the database: %w", err)
	}
	// A database that cannot be written reads fine: start-up proves the write path.
	err = s.migrate(ctx)
	if err == nil {
		err = s.Heartbeat(ctx)
	}
	if err != nil {
		s.Close()
		if cause, ok := Unwritable(err); ok {
			return nil, fmt.Errorf("store: the database %s cannot be written (%s): %w", path, cause, err)
		}
		return nil, err
	}
	// Made owner-only above; a file made by an older scmadmin or by hand is restricted now.
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(f, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.Close()
			return nil, fmt.Errorf("store: restrict %s to its owner: %w", f, err)
		}
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	if s.stopListening != nil {
		s.stopListening()
		<-s.listened
	}
	s.stmts.Range(func(_, st any) bool {
		st.(*sql.Stmt).Close()
		return true
	})
	s.writesMu.Lock()
	for _, st := range s.writes {
		st.Close()
	}
	s.writesMu.Unlock()
	err := errors.Join(s.db.Close(), s.w.Close())
	if s.changes != nil {
		err = errors.Join(err, s.changes.Close())
	}
	return err
}

// prepared returns the readers' prepared statement for query, preparing it the first time.
func (s *Store) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := s.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := s.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// queryRow runs a read that returns one row, through a prepared statement.
func (s *Store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := s.prepared(ctx, query)
	if err != nil {
		return s.db.QueryRowContext(ctx, query, args...) // reports the same error on Scan
	}
	return st.QueryRowContext(ctx, args...)
}

// query runs a read, through a prepared statement.
func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := s.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// Ping checks that the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	for _, db := range []*sql.DB{s.db, s.w} {
		if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
			return fmt.Errorf("store: ping: %w", err)
		}
	}
	return nil
}

type migration struct {
	version int
	name    string
	sql     string
}

// migrations are the migrations in dir, in the order of their versions.
func migrations(dir string) ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %q: name must start with NNN_", e.Name())
		}
		body, err := migrationFS.ReadFile(dir + "/" + e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// migrate applies, each in its own transaction, the migrations newer than the schema version.
// The version is read inside the write transaction, after the dialect's lock, so that two
// processes opening a new database at once do not both apply a migration.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations(s.d.migrations)
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	latest := ms[len(ms)-1].version
	for _, m := range ms {
		err := s.migrationTx(ctx, func(tx *sql.Tx) error {
			if s.d.lockSchema != "" {
				if _, err := tx.ExecContext(ctx, s.d.lockSchema); err != nil {
					return err
				}
			}
			var current int
			if err := tx.QueryRowContext(ctx, s.d.schemaVersion).Scan(&current); err != nil {
				return err
			}
			if current > latest {
				return fmt.Errorf("the database has schema version %d, newer than this scmadmin knows (%d): run a newer scmadmin", current, latest)
			}
			if m.version <= current {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, fmt.Sprintf(s.d.setSchemaVersion, m.version))
			return err
		})
		if err != nil {
			return fmt.Errorf("store: migration %s: %w", m.name, err)
		}
	}
	return nil
}

// Versions are the data versions (migration 007): each changes with every committed write
// to what it names, by any process.
type Versions struct {
	Configs, Users, Sessions, APIKeys, Secrets uint64
}

// Versions reads the data versions. Something read after Versions is current while Versions
// returns the same.
func (s *Store) Versions(ctx context.Context) (Versions, error) {
	var v Versions
	err := s.queryRow(ctx, `SELECT (SELECT n FROM data_versions WHERE name = 'configs'),
		(SELECT n FROM data_versions WHERE name = 'users'), (SELECT n FROM data_versions WHERE name = 'sessions'),
		(SELECT n FROM data_versions WHERE name = 'apikeys'), (SELECT n FROM data_versions WHERE name = 'secrets')`).
		Scan(&v.Configs, &v.Users, &v.Sessions, &v.APIKeys, &v.Secrets)
	if err != nil {
		return Versions{}, fmt.Errorf("store: data versions: %w", err)
	}
	return v, nil
}

// ChangeToken changes whenever anyone commits a write that changes a data version: this
// process, another server on the same database, or a scmadmin command. On SQLite, each such
// commit writes a fresh random token into the change file beside the database, so that
// reading it costs one 8-byte read; on PostgreSQL, other servers' commits are notified (see
// listen). While the token is unchanged, so are the data versions, and nothing needs to be
// read again.
type ChangeToken struct {
	file          [8]byte
	local, remote uint64
}

// ChangeToken returns the current change token.
func (s *Store) ChangeToken() ChangeToken {
	t := ChangeToken{local: s.local.Load(), remote: s.remote.Load()}
	if s.changes == nil {
		return t
	}
	if _, err := s.changes.ReadAt(t.file[:], 0); err != nil {
		t.local, t.file = 0, [8]byte{} // unreadable: no token ever matches this one
		rand.Read(t.file[:])
	}
	return t
}

// changed marks a commit that changed a data version (or may have): after it, ChangeToken
// differs in every process.
func (s *Store) changed() {
	s.local.Add(1)
	if s.changes == nil {
		return
	}
	var b [8]byte
	rand.Read(b[:])
	s.changes.WriteAt(b[:], 0) // a failure leaves other processes to expire nothing: local still moves
}

// exec runs one writing statement through the writer, in a transaction of its own (see inTx).
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	var res sql.Result
	err := s.inTx(ctx, func(tx *wtx) error {
		var err error
		res, err = tx.ExecContext(ctx, query, args...)
		return err
	})
	return res, err
}

// inTx runs fn in a transaction, committing when it returns nil. Where the dialect has
// tokenOnVersions, the change token moves when the transaction moved a data version (or may
// have: its commit failed), and only then (elsewhere, at every commit): the
// builds, deliveries and outbox rows that most writes are leave every cache as it is, where
// moving the token would have made each server's next requests read the versions again.
// Versions only grow, so a sum of them that differs from the one the last transaction of
// this store saw means a change, by this transaction or by another process since (which
// moves the token once more than needed, never less).
func (s *Store) inTx(ctx context.Context, fn func(*wtx) error) error {
	sqlTx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer s.prepareWrites(ctx) // once the writer's connection is free again
	tx := &wtx{Tx: sqlTx, s: s}
	defer func() {
		if p := recover(); p != nil {
			tx.Rollback() // the writer's one connection must not stay in a transaction
			panic(p)
		}
	}()
	err = fn(tx)
	var sum int64
	if err == nil && s.d.tokenOnVersions {
		err = tx.QueryRowContext(ctx, `SELECT CAST(sum(n) AS BIGINT) FROM data_versions`).Scan(&sum)
	}
	if err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil || !s.d.tokenOnVersions || s.versionsSum.Swap(sum) != sum {
		s.changed() // after the write, so that versions read before it are retired
		return err
	}
	return nil
}

// migrationTx runs fn, a migration, in a transaction, committing when it returns nil. It
// moves the change token whatever fn did: before migration 007 there are no data versions.
func (s *Store) migrationTx(ctx context.Context, fn func(*sql.Tx) error) error {
	defer s.changed()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// wtx is a write transaction (inTx). Its statements run prepared on the writer's connection:
// on SQLite, parsing them was a third of a push's transaction. Each is prepared once, right
// after the first transaction that ran it (which held the writer's one connection, so could
// not prepare it for later ones), and kept.
type wtx struct {
	*sql.Tx
	s *Store
}

// maxWriterStatements bounds the writer's prepared statements. The store's writes are a fixed
// set of statements (copy's, one per table, are the most), so it is never reached.
const maxWriterStatements = 256

// stmt returns query prepared for tx, or nil when it is not prepared yet (it will be, after
// tx) or the driver prepares it by itself.
func (tx *wtx) stmt(ctx context.Context, query string) *sql.Stmt {
	if !tx.s.d.prepareWrites {
		return nil
	}
	s := tx.s
	s.writesMu.Lock()
	defer s.writesMu.Unlock()
	if st, ok := s.writes[query]; ok {
		return tx.StmtContext(ctx, st)
	}
	s.unprepared++
	if s.toPrepare == nil {
		s.toPrepare = make(map[string]bool)
	}
	if len(s.writes)+len(s.toPrepare) < maxWriterStatements {
		s.toPrepare[query] = true
	}
	return nil
}

// QueryRowContext runs query in tx, prepared once it has been.
func (tx *wtx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := tx.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return tx.Tx.QueryRowContext(ctx, query, args...)
}

// QueryContext runs query in tx, prepared once it has been.
func (tx *wtx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := tx.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return tx.Tx.QueryContext(ctx, query, args...)
}

// ExecContext runs query in tx, prepared once it has been.
func (tx *wtx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := tx.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return tx.Tx.ExecContext(ctx, query, args...)
}

// prepareWrites prepares, on the writer's connection, the statements that transactions ran
// unprepared, up to maxWriterStatements in all. One that fails to prepare is run unprepared
// again, and tried again after.
func (s *Store) prepareWrites(ctx context.Context) {
	s.writesMu.Lock()
	queries := s.toPrepare
	s.toPrepare = nil
	s.writesMu.Unlock()
	for q := range queries {
		st, err := s.w.PrepareContext(ctx, q)
		if err != nil {
			continue
		}
		s.writesMu.Lock()
		if _, ok := s.writes[q]; ok {
			st.Close()
		} else {
			if s.writes == nil {
				s.writes = make(map[string]*sql.Stmt)
			}
			s.writes[q] = st
		}
		s.writesMu.Unlock()
	}
}
