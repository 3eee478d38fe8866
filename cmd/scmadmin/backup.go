package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/scmadmin/scmadmin/store"
)

// backup runs `scmadmin backup FILE`: a consistent copy of the database, taken while a
// server may be serving (VACUUM INTO). The key file is not in it: back that up too.
func backup(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, pos, err := parseCommand("backup", args, getenv, nil)
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if err != nil || len(pos) != 1 {
		return fmt.Errorf("backup: give the file to write\n%s", usage)
	}
	if store.IsPostgres(cfg.DB) {
		// The URL is not repeated: it may hold a password.
		return fmt.Errorf("backup: SCMADMIN_DB is a PostgreSQL database: back it up with pg_dump, and keep the key file %s with the dump", cfg.keyFile())
	}
	st, err := cfg.openExistingStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Backup(ctx, pos[0]); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Wrote a copy of %s to %s. Keep the key file %s with it: the secrets cannot be read without it.\n",
		cfg.DB, pos[0], cfg.keyFile())
	return nil
}
