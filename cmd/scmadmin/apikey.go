package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/scmadmin/scmadmin/store"
)

// commandLine is where the audit trail says a change made by a command came from.
const commandLine = "command line"

// apikey runs `scmadmin apikey add NAME [--scope read|admin] [--as USERNAME]`, `apikey list`
// and `apikey revoke NAME`.
func apikey(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var scope, as *string
	cfg, pos, err := parseCommand("apikey", args, getenv, func(fs *flag.FlagSet) {
		scope = fs.String("scope", store.ScopeRead, "read (the GET routes) or admin (every route)")
		as = fs.String("as", "admin", "the cluster admin the key acts as")
	})
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	want := map[string]int{"add": 2, "list": 1, "revoke": 2}
	if err != nil || len(pos) == 0 || want[pos[0]] != len(pos) {
		return fmt.Errorf("apikey: bad arguments %q\n%s", args, usage)
	}
	st, err := cfg.openExistingStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	switch pos[0] {
	case "add":
		return addAPIKey(ctx, st, pos[1], *scope, *as, stdout)
	case "revoke":
		if err := st.RevokeAPIKey(ctx, pos[1], store.Actor{Username: commandLine, Addr: commandLine}); err != nil {
			return fmt.Errorf("apikey revoke: %w", err)
		}
		fmt.Fprintf(stdout, "Revoked the API key %q: requests that send it are refused from now on.\n", pos[1])
		return nil
	}
	return listAPIKeys(ctx, st, stdout)
}

// addAPIKey makes a key and prints it alone on the last line, for scripts to take.
func addAPIKey(ctx context.Context, st *store.Store, name, scope, as string, stdout io.Writer) error {
	k, key, err := st.CreateAPIKey(ctx, name, scope, as, store.Actor{Username: as, Addr: commandLine})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("apikey add: there is no user %q; a key acts as a cluster admin: name one with --as", as)
	case errors.Is(err, store.ErrNotAdmin):
		return fmt.Errorf("apikey add: %q is not a cluster admin; a key acts as one: name one with --as", as)
	}
	if errors.Is(err, store.ErrDuplicate) {
		return fmt.Errorf("apikey add: a key called %q exists (a revoked key keeps its name, for the audit log): choose another name", name)
	}
	if err != nil {
		return fmt.Errorf("apikey add: %w", err)
	}
	fmt.Fprintf(stdout, "Made the API key %q with the scope %s, acting as %s. It is shown only this once:\n%s\n", k.Name, k.Scope, k.MadeBy, key)
	return nil
}

func listAPIKeys(ctx context.Context, st *store.Store, stdout io.Writer) error {
	keys, err := st.ListAPIKeys(ctx)
	if err != nil {
		return fmt.Errorf("apikey list: %w", err)
	}
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tSCOPE\tMADE BY\tMADE\tLAST USED\tREVOKED")
	for _, k := range keys {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", k.Name, k.Scope, k.MadeBy, cliTime(k.CreatedAt), cliTime(k.LastUsedAt), cliTime(k.RevokedAt))
	}
	return w.Flush()
}

// cliTime is t for a table, "-" when it is zero (never).
func cliTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}
