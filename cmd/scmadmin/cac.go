package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/web/action"
)

// exportCmd runs `scmadmin export`: every configuration but the built-in one, as a
// configuration file on standard output.
func exportCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, pos, err := parseCommand("export", args, getenv, nil)
	if errors.Is(err, flag.ErrHelp) {
		return err
	} else if err != nil || len(pos) > 0 {
		return fmt.Errorf("export: bad arguments %q\n%s", args, usage)
	}
	st, err := cfg.openExistingStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := exportConfigs(ctx, st, stdout); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

// applyCmd runs `scmadmin apply -f FILE [--dry-run] [--prune]`: the configurations made to
// match the file, in one transaction, or with --dry-run the plan alone.
func applyCmd(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	var file *string
	var dryRun, prune *bool
	cfg, pos, err := parseCommand("apply", args, getenv, func(fs *flag.FlagSet) {
		file = fs.String("f", "", "the configuration file (- for standard input)")
		dryRun = fs.Bool("dry-run", false, "print the plan and change nothing")
		prune = fs.Bool("prune", false, "delete the configurations the file manages that it no longer lists")
	})
	if errors.Is(err, flag.ErrHelp) {
		return err
	} else if err != nil || len(pos) > 0 || *file == "" {
		return fmt.Errorf("apply: bad arguments %q: name the file with -f FILE (- for standard input)\n%s", args, usage)
	}
	if *prune && *file == "-" {
		return errors.New("apply: --prune needs a file (-f FILE): it deletes what that file manages, and standard input manages nothing")
	}
	f, err := readConfigFile(*file, stdin, getenv)
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	st, err := cfg.openExistingStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.CheckKeys(ctx); err != nil {
		return fmt.Errorf("apply: %w: %s is not the key file of this database", err, cfg.keyFile())
	}
	a := action.New(st, nil, slog.New(slog.DiscardHandler), nil, nil)
	if err := applyConfigFile(ctx, a, f, *prune, *dryRun, store.Actor{Username: "apply", Addr: commandLine}, stdout); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	return nil
}

// applyConfigFile plans f and takes the plan (checks it alone, with dryRun), printing it to w.
func applyConfigFile(ctx context.Context, a *action.Actions, f *configFile, prune, dryRun bool, by store.Actor, w io.Writer) error {
	plan, err := a.PlanFile(ctx, f.path, f.entries, prune)
	if err == nil {
		err = a.ApplyFile(ctx, by, plan, dryRun)
	}
	if ee, ok := errors.AsType[action.EntryErrors](err); ok {
		return fmt.Errorf("nothing was changed:\n%w", f.describe(ee))
	}
	if err != nil {
		return err
	}
	printPlan(w, f, plan)
	if dryRun && len(plan.Changes) > 0 {
		fmt.Fprintln(w, "Dry run: nothing was changed.")
	}
	return nil
}

// configFileApplier applies SCMADMIN_CONFIG_FILE: at start, when a bad file stops the server,
// and on SIGHUP, when a bad file is logged and the running configuration kept.
type configFileApplier struct {
	path   string
	getenv func(string) string
	a      *action.Actions
	log    *slog.Logger
}

// apply applies the file, as when says (start or SIGHUP).
func (c *configFileApplier) apply(ctx context.Context, when string) error {
	f, err := readConfigFile(c.path, nil, c.getenv)
	if err != nil {
		return err
	}
	var plan strings.Builder
	if err := applyConfigFile(ctx, c.a, f, false, false, store.Actor{Username: "config file " + f.path, Addr: when}, &plan); err != nil {
		return err
	}
	c.log.Info("applied the configuration file", "file", f.path, "on", when, "plan", plan.String())
	return nil
}

// onSIGHUP applies the file again at each SIGHUP until ctx is done.
func (c *configFileApplier) onSIGHUP(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := c.apply(ctx, "SIGHUP"); err != nil {
					c.log.Error("the configuration file was not applied: the running configuration is kept",
						"file", c.path, "err", err.Error())
				}
			}
		}
	}()
}
