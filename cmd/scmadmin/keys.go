package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/scmadmin/scmadmin/store/keyring"
)

// keySwitchWait is how long rotation waits, after adding the new key, for running servers
// to start sealing with it (they check the key file every second).
var keySwitchWait = 2 * time.Second

// keys runs `scmadmin keys rotate`: a new key seals every secret, with the old keys kept in
// the file until no secret needs them, so that a server running meanwhile reads them all.
func keys(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var cfg config
	fs := flag.NewFlagSet("keys", flag.ContinueOnError)
	cfg.flags(fs, getenv)
	pos, err := parse(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return nil
	}
	if err != nil || len(pos) != 1 || pos[0] != "rotate" {
		return fmt.Errorf("keys: bad arguments %q\n%s", args, usage)
	}
	st, err := cfg.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.CheckKeys(ctx); err != nil {
		return fmt.Errorf("keys rotate: %w: fix the key file before rotating", err)
	}
	id, err := keyring.AddKey(cfg.keyFile())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Added key %d to %s; waiting for running servers to start using it…\n", id, cfg.keyFile())
	select {
	case <-time.After(keySwitchWait):
	case <-ctx.Done():
		return ctx.Err()
	}
	total := 0
	for {
		n, err := st.ReencryptSecrets(ctx)
		if err != nil {
			return fmt.Errorf("keys rotate: %w (the old keys stay in the key file: run it again)", err)
		}
		total += n
		if n == 0 {
			break
		}
	}
	if err := keyring.RetireKeys(cfg.keyFile()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Re-encrypted %d secrets with key %d and retired the old keys. Back up %s again.\n", total, id, cfg.keyFile())
	return nil
}
