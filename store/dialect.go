package store

import (
	"database/sql"
	"errors"
	"strconv"
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
	// shortSearch, when set, replaces search for a search of fewer than three characters,
	// which no trigram index can answer: the index would be read whole, where reading the
	// table in the page's order stops at the page. It also replaces it for a broad search,
	// one that broadProbe finds in at least broadMatches of the first broadRows rows: the
	// index would hand over every match to be checked (0.74 s for a word in all of 100,000
	// configurations), where reading in order finds a page, and the capped count, within
	// a few thousand rows.
	shortSearch string
	broadProbe  string
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
	// snapshot is the isolation under which one transaction reads one snapshot (Copy's).
	snapshot sql.IsolationLevel
	// lastID reads the last id that the table {table} (also its one argument) handed out, 0
	// for none; setLastID (its arguments the table and that id) makes it hand out ids after it.
	lastID, setLastID string
	// unsynced, run first in a transaction, lets its commit return before it is on disk: for
	// writes that may be lost to a crash (failure counts), so that a flood of them does not
	// queue the writer behind an fsync each. SQLite (WAL, synchronous=NORMAL) syncs only at
	// checkpoints already.
	unsynced string
	// prepareWrites says whether the writer's statements are prepared by the store (see wtx).
	// pgx prepares each statement once per connection by itself, and drops one that a
	// migration made invalid ("cached plan must not change result type"), where a statement
	// the store prepared would fail until restart; modernc's SQLite parses at every run.
	prepareWrites bool
	// tokenOnVersions says whether a transaction reads the data versions' sum to move the
	// change token only when it changed one (see inTx). On SQLite that read is in process,
	// and saves every server's caches a read of the versions after each build; on PostgreSQL
	// it is a round trip on the one writer connection, which costs more (deliveries/s 428 ->
	// 329-386 in BenchmarkRecordDelivery), so every commit moves the token there.
	tokenOnVersions bool
}

// A search that broadProbe finds in broadMatches of the first broadRows rows is broad.
const broadRows, broadMatches = 2000, 50

var sqliteDialect = dialect{
	name:             "sqlite",
	migrations:       "migrations/sqlite",
	schemaVersion:    `PRAGMA user_version`,
	setSchemaVersion: `PRAGMA user_version = %d`,
	// The trigram index (FTS5, migration 005) answers GLOB over the lower-cased text (and
	// LIKE, but not with ESCAPE).
	search:        `id IN (SELECT rowid FROM scm_search WHERE search_text GLOB ?)`,
	searchPattern: func(s string) string { return "*" + globEscaper.Replace(s) + "*" },
	shortSearch:   `search_text GLOB ?`,
	broadProbe: `SELECT count(*) FROM (SELECT search_text FROM scm_configs LIMIT ` + strconv.Itoa(broadRows) + `)
		WHERE search_text GLOB ?`,
	position: `instr(?, ' ' || provider || ' ')`,
	like:     `LIKE`,
	// A read transaction in WAL mode sees one snapshot already. Tables without AUTOINCREMENT
	// go on from their highest id, which the copied rows set.
	snapshot:        sql.LevelDefault,
	lastID:          `SELECT coalesce(max(id), 0) FROM (SELECT max(id) AS id FROM {table} UNION ALL SELECT seq FROM sqlite_sequence WHERE name = ?)`,
	setLastID:       `UPDATE sqlite_sequence SET seq = max(seq, ?2) WHERE name = ?1`,
	prepareWrites:   true,
	tokenOnVersions: true,
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
	snapshot:      sql.LevelRepeatableRead,
	unsynced:      `SET LOCAL synchronous_commit = off`,
	lastID: `SELECT greatest((SELECT coalesce(max(id), 0) FROM {table}),
		coalesce(pg_sequence_last_value(pg_get_serial_sequence(?, 'id')::regclass), 0))`,
	setLastID: `SELECT setval(pg_get_serial_sequence(?1, 'id'), greatest(?2, (SELECT coalesce(max(id), 1) FROM {table})))`,
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
