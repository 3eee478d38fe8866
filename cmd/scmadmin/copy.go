package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/scmadmin/scmadmin/store"
)

// copyCommand runs `scmadmin copy --from SRC --to DST`: the whole installation, from a SQLite
// file to a PostgreSQL database or back, in one transaction on DST, which must be empty.
// Secrets stay sealed: the key file of SRC opens them on DST too.
func copyCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var from, to *string
	cfg, pos, err := parseCommand("copy", args, getenv, func(fs *flag.FlagSet) {
		from = fs.String("from", "", "the database to copy: a SQLite file or a postgres:// URL")
		to = fs.String("to", "", "the empty database to copy into (created and migrated if need be)")
	})
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if err != nil || len(pos) != 0 || *from == "" || *to == "" {
		return fmt.Errorf("copy: give --from and --to\n%s", usage)
	}
	src, dst := cfg, cfg
	src.DB, dst.DB = *from, *to
	src.dbFlag = "--from"
	src.KeyFile = src.keyFile() // one key file for both: the secrets are copied sealed
	dst.KeyFile = src.KeyFile
	if src.dbName() == dst.dbName() {
		return errors.New("copy: --from and --to name the same database")
	}
	source, err := src.openExistingStore(ctx)
	if err != nil {
		return fmt.Errorf("copy: the source: %w", err)
	}
	defer source.Close()
	if err := source.CheckKeys(ctx); err != nil {
		return fmt.Errorf("copy: %w: point --key-file (SCMADMIN_KEY_FILE) at the source's key file", err)
	}
	dest, err := dst.openStore(ctx)
	if err != nil {
		return fmt.Errorf("copy: the destination: %w", err)
	}
	defer dest.Close()
	counts, err := store.Copy(ctx, source, dest)
	if err != nil {
		return fmt.Errorf("copy: %w; nothing was written", err)
	}
	var parts []string
	for _, c := range counts {
		parts = append(parts, fmt.Sprintf("%s %d", c.Table, c.Rows))
	}
	fmt.Fprintf(stdout, "Copied %s to %s (%s). Its secrets open with the key file %s: give it to the servers of the copy.\n",
		src.dbName(), dst.dbName(), strings.Join(parts, ", "), src.KeyFile)
	return nil
}
