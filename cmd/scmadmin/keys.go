package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/scmadmin/scmadmin/store/keyring"
)

// keySwitchTimeout bounds how long rotation waits for the running servers to load the new
// key (each records the key it seals with every attendEvery) before it re-seals anything.
var keySwitchTimeout = 30 * time.Second

// keys runs `scmadmin keys rotate`: a new key seals every secret, with the old keys kept in
// the file until no secret needs them, so that a server running meanwhile reads them all.
func keys(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, pos, err := parseCommand("keys", args, getenv, nil)
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if err != nil || len(pos) != 1 || pos[0] != "rotate" {
		return fmt.Errorf("keys: bad arguments %q\n%s", args, usage)
	}
	if err := checkKeys(ctx, &cfg); err != nil {
		return err
	}
	id, err := keyring.AddKey(cfg.keyFile())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Added key %d to %s; waiting for running servers to start using it…\n", id, cfg.keyFile())
	if err := waitForServers(ctx, &cfg, id); err != nil {
		return err
	}
	// A store over the key file as it is now: its current key is the one just added.
	st, err := cfg.openExistingStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	total := 0
	for {
		n, err := st.ReencryptSecrets(ctx, id)
		if err != nil {
			return fmt.Errorf("keys rotate: %w (the old keys stay in the key file: run it again)", err)
		}
		total += n
		if n == 0 {
			break
		}
	}
	if left, err := st.SecretsNotUnder(ctx, id); err != nil || left > 0 {
		return fmt.Errorf("keys rotate: %d secrets are still sealed with an old key (%v); the old keys stay in the key file: run it again", left, err)
	}
	if err := keyring.RetireKeys(cfg.keyFile()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Re-encrypted %d secrets with key %d and retired the old keys. Back up %s again.\n", total, id, cfg.keyFile())
	return nil
}

// checkKeys refuses to rotate a key file that does not open the stored secrets.
func checkKeys(ctx context.Context, cfg *config) error {
	st, err := cfg.openExistingStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.CheckKeys(ctx); err != nil {
		return fmt.Errorf("keys rotate: %w: fix the key file before rotating", err)
	}
	return nil
}

// waitForServers waits until no running server seals with a key older than id: from then on,
// none seals a secret that the re-encryption would miss.
func waitForServers(ctx context.Context, cfg *config, id uint32) error {
	st, err := cfg.openExistingStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	deadline := time.Now().Add(keySwitchTimeout)
	for {
		behind, err := st.ServersBehind(ctx, id, serversGone)
		if err != nil {
			return fmt.Errorf("keys rotate: %w", err)
		}
		if len(behind) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			var lag []string
			for _, b := range behind {
				lag = append(lag, fmt.Sprintf("%s (key %d, seen %s ago)", b.Name, b.KeyID, time.Since(b.SeenAt).Round(time.Second)))
			}
			return fmt.Errorf("keys rotate: after %s these servers still seal with an older key than %d: %s. Give each of them "+
				"the new key file %s (it must be the same file on every server), then run keys rotate again; nothing was re-sealed",
				keySwitchTimeout, id, strings.Join(lag, "; "), cfg.keyFile())
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
