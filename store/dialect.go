package store

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect is the SQL that differs between the two engines. Everything else is written once,
// with ? placeholders, which the PostgreSQL connection rebinds to $1, $2 … (see rebind);
// here each difference stands with both of its versions, so that a reader sees both.
type dialect struct {
	name string
	// migrations is the folder of this engine's migrations. A migration's number is the
	// schema version it makes, the same on both engines.
	migrations string
	// lockSchema runs first in each migration's transaction, so that servers starting
	// together on one database migrate it once. SQLite needs none: the migration's
	// transaction already holds the write lock.
	lockSchema string
	// schemaVersion reads the schema version; setSchemaVersion (a format of the version)
	// records it in the migration's transaction.
	schemaVersion, setSchemaVersion string
	// search is the list search's condition on scm_configs; its one argument is
	// searchPattern of the lower-cased search.
	search        string
	searchPattern func(lower string) string
	// position is where provider stands within its text argument (1 for the start), for
	// the provider sort.
	position string
	// like is LIKE folding ASCII case, as SQLite's does.
	like string
	// shareLock ends a SELECT in a write transaction that a concurrent DELETE of the rows it
	// read must wait for. SQLite needs none: its writer transaction holds the database's
	// write lock from its start.
	shareLock string
	// forUpdate ends a SELECT in a transaction that then writes what it read: it locks the
	// rows read. SQLite needs none: its write transactions are serialised from their start.
	forUpdate string
	// skipLocked ends a SELECT of rows to claim: it locks them and passes over those another
	// transaction holds, so that two servers claiming at once neither wait nor deadlock.
	skipLocked string
}

var sqliteDialect = dialect{
	name:             "sqlite",
	migrations:       "migrations/sqlite",
	schemaVersion:    `PRAGMA user_version`,
	setSchemaVersion: `PRAGMA user_version = %d`,
	// The trigram index (FTS5, migration 005) answers GLOB over the lower-cased text (and
	// LIKE, but not with ESCAPE).
	search:        `id IN (SELECT rowid FROM scm_search WHERE search_text GLOB ?)`,
	searchPattern: func(s string) string { return "*" + globEscaper.Replace(s) + "*" },
	position:      `instr(?, ' ' || provider || ' ')`,
	like:          `LIKE`,
}

var postgresDialect = dialect{
	name:       "postgres",
	migrations: "migrations/postgres",
	// One lock for every scmadmin, held until the migration's transaction ends; the table
	// of versions must exist before it can be read.
	lockSchema: `SELECT pg_advisory_xact_lock(7304512001);
		CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
	schemaVersion:    `SELECT coalesce(max(version), 0) FROM schema_version`,
	setSchemaVersion: `INSERT INTO schema_version (version) VALUES (%d)`,
	// pg_trgm's GIN index (scm_configs_search) answers LIKE: the text is lower-cased in Go,
	// for every script, so LIKE needs no ILIKE's folding.
	search:        `search_text LIKE ? ESCAPE '\'`,
	searchPattern: func(s string) string { return "%" + likeEscaper.Replace(s) + "%" },
	position:      `strpos(?, ' ' || provider || ' ')`,
	like:          `ILIKE`,
	shareLock:     ` FOR SHARE`,
	forUpdate:     ` FOR UPDATE`,
	skipLocked:    ` FOR UPDATE SKIP LOCKED`,
}

// globEscaper makes text match itself literally inside a GLOB pattern.
var globEscaper = strings.NewReplacer(`*`, `[*]`, `?`, `[?]`, `[`, `[[]`)

// isUnique reports whether err is the engine refusing a write for a UNIQUE or PRIMARY KEY
// constraint.
func isUnique(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" // unique_violation
}

// isUniqueOn is isUnique for the UNIQUE constraint of table's column alone.
func isUniqueOn(err error, table, column string) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505" && pe.ConstraintName == table+"_"+column+"_key" // PostgreSQL's name for it
	}
	return isUnique(err) && strings.Contains(err.Error(), "constraint failed: "+table+"."+column)
}
