package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/scmadmin/scmadmin/store/keyring"
)

// IsPostgres reports whether dsn (SCMADMIN_DB) names a PostgreSQL database rather than a SQLite file.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// openPostgres opens the PostgreSQL database at url and migrates it to the latest schema.
// As on SQLite, writes go through one connection, so that a server's read-then-write
// transactions run one at a time.
func openPostgres(ctx context.Context, url string, keys *keyring.Keyring) (*Store, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("store: the PostgreSQL URL: %w", err)
	}
	if _, set := cfg.RuntimeParams["plan_cache_mode"]; !set {
		// pgx prepares and keeps every statement, and PostgreSQL soon plans a kept one once for
		// any arguments: the list's search then read the table in id order for a rare name
		// (40 ms over 100,000 configurations) where the trigram index finds it at once.
		cfg.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	}
	connector := pgConnector{stdlib.GetConnector(*cfg, stdlib.OptionAfterConnect(utcTimes))}
	w := sql.OpenDB(connector)
	w.SetMaxOpenConns(1)
	db := sql.OpenDB(connector)
	readers := max(4, 2*runtime.NumCPU())
	db.SetMaxOpenConns(readers)
	db.SetMaxIdleConns(readers)
	s := &Store{db: db, w: w, d: &postgresDialect, keys: keys, batch: newBatcher(),
		// PostgreSQL keeps microseconds: a time the store returns reads back the same.
		now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
	err = s.migrate(ctx)
	if err == nil {
		err = s.Heartbeat(ctx) // as on SQLite: start-up proves the write path
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	var listenCtx context.Context
	listenCtx, s.stopListening = context.WithCancel(context.Background())
	s.listened = make(chan struct{})
	go func() {
		defer close(s.listened)
		s.listen(listenCtx, cfg)
	}()
	return s, nil
}

// utcTimes makes a connection return timestamps in UTC, as the store writes them and as
// SQLite gives them back, rather than in the server's local zone.
func utcTimes(_ context.Context, c *pgx.Conn) error {
	c.TypeMap().RegisterType(&pgtype.Type{Name: "timestamptz", OID: pgtype.TimestamptzOID,
		Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC}})
	return nil
}

// pgConnector makes pgConns.
type pgConnector struct{ driver.Connector }

func (c pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return pgConn{conn.(*stdlib.Conn)}, nil
}

// pgConn is a pgx connection that takes the store's SQL and values as they are written for
// both engines: ? placeholders become $1, $2 … (rebind); Go bools travel as the 0 and 1 that
// both schemas keep flags in (SQLite has no boolean type); and text that PostgreSQL refuses
// (a NUL, or bytes that are not UTF-8) has those replaced by U+FFFD, as a lookup of it finds
// nothing either way and a record of it (a webhook's event name) keeps what it can.
type pgConn struct{ *stdlib.Conn }

func (c pgConn) Prepare(query string) (driver.Stmt, error) {
	return c.Conn.Prepare(rebind(query))
}

func (c pgConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, rebind(query))
}

func (c pgConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.ExecContext(ctx, rebind(query), args)
}

func (c pgConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.QueryContext(ctx, rebind(query), args)
}

func (c pgConn) CheckNamedValue(v *driver.NamedValue) error {
	switch x := v.Value.(type) {
	case bool:
		v.Value = int64(0)
		if x {
			v.Value = int64(1)
		}
	case string:
		if strings.IndexByte(x, 0) >= 0 || !utf8.ValidString(x) {
			v.Value = strings.ToValidUTF8(strings.ReplaceAll(x, "\x00", "\uFFFD"), "\uFFFD")
		}
	}
	return nil
}

// rebind turns the ? (and ?NNN) placeholders of query into PostgreSQL's $1, $2 …, leaving
// alone what is inside quotes and -- comments.
func rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		switch c := query[i]; c {
		case '\'', '"':
			end := i + 1 + strings.IndexByte(query[i+1:], c) // the closing quote, or i when none
			if end == i {
				end = len(query) - 1
			}
			b.WriteString(query[i : end+1])
			i = end
		case '-':
			if strings.HasPrefix(query[i:], "--") {
				end := strings.IndexByte(query[i:], '\n')
				if end < 0 {
					end = len(query) - i
				}
				b.WriteString(query[i : i+end])
				i += end - 1
				continue
			}
			b.WriteByte(c)
		case '?': // ?NNN (SQLite's numbered parameter) is $NNN; a bare ? the next number
			digits := len(query[i+1:]) - len(strings.TrimLeft(query[i+1:], "0123456789"))
			if digits == 0 {
				n++
				b.WriteString("$" + strconv.Itoa(n))
				continue
			}
			b.WriteString("$" + query[i+1:i+1+digits])
			i += digits
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
