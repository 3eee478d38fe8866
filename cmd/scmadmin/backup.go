package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
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
