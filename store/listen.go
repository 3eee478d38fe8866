package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// On PostgreSQL, a server learns of other servers' commits through LISTEN/NOTIFY: migration
// 021's trigger notifies scmadmin_changes when a commit changes a data version, and one
// connection of each store listens, moving the change token (remote) at each notification.
// While that connection is down, the store polls the data versions instead, every pollEvery,
// until it listens again.
const (
	changesChannel = "scmadmin_changes"
	pollEvery      = 50 * time.Millisecond
	// quietCheck is how long the listener waits for a notification before it checks that its
	// connection is still there: a connection lost without a word sends no error either.
	quietCheck = 5 * time.Second
	// relisten is how long the store polls before it tries to listen again.
	relisten = time.Second
)

// listen runs until ctx is done: listening while it can, polling while it cannot.
func (s *Store) listen(ctx context.Context, cfg *pgx.ConnConfig) {
	var polled *Versions // the versions polling read last, nil when it has not yet
	for ctx.Err() == nil {
		conn, err := s.startListening(ctx, cfg)
		if err != nil {
			polled = s.poll(ctx, relisten, polled)
			continue
		}
		polled = nil
		s.remote.Add(1) // what was read while nobody listened may be out of date
		s.listening.Store(true)
		s.waitForChanges(ctx, conn)
		s.listening.Store(false)
		s.remote.Add(1) // a notification may have been lost with the connection
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn.Close(closeCtx)
		cancel()
	}
}

// startListening opens the listening connection.
func (s *Store) startListening(ctx context.Context, cfg *pgx.ConnConfig) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg.Copy())
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+changesChannel); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	return conn, nil
}

// waitForChanges moves the change token at each notification on conn, until the connection
// fails or ctx is done.
func (s *Store) waitForChanges(ctx context.Context, conn *pgx.Conn) {
	for {
		wctx, cancel := context.WithTimeout(ctx, quietCheck)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			s.remote.Add(1)
		case ctx.Err() != nil:
			return
		case errors.Is(err, context.DeadlineExceeded):
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return
			}
		default:
			return
		}
	}
}

// poll reads the data versions every pollEvery for d, moving the change token whenever they
// changed since last (or could not be read; at once when last is nil), and returns the last
// read.
func (s *Store) poll(ctx context.Context, d time.Duration, last *Versions) *Versions {
	for end := time.Now().Add(d); time.Now().Before(end); {
		v, err := s.Versions(ctx)
		if err != nil || last == nil || v != *last {
			s.remote.Add(1)
		}
		if err == nil {
			last = &v
		}
		select {
		case <-ctx.Done():
			return last
		case <-time.After(pollEvery):
		}
	}
	return last
}
