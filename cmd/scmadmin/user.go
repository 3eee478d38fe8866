package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"golang.org/x/term"

	"github.com/scmadmin/scmadmin/store"
)

func user(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	var admin, off *bool
	cfg, pos, err := parseCommand("user", args, getenv, func(fs *flag.FlagSet) {
		admin = fs.Bool("admin", false, "make the account a cluster admin")
		off = fs.Bool("off", false, "take cluster admin away")
	})
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if err != nil || len(pos) != 2 || !slices.Contains([]string{"add", "passwd", "admin"}, pos[0]) ||
		(*admin && pos[0] != "add") || (*off && pos[0] != "admin") {
		return fmt.Errorf("user: bad arguments %q\n%s", args, usage)
	}
	verb, name := pos[0], pos[1]
	if err := store.CheckUsername(name); err != nil {
		return fmt.Errorf("user %s: %w", verb, err)
	}
	var password string
	if verb != "admin" {
		if password, err = readPassword(stdin, stdout); err != nil {
			return err
		}
	}
	open := cfg.openExistingStore
	if verb == "add" {
		open = cfg.openStore // the first account may come before the first start
	}
	st, err := open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	by := store.Actor{Username: "scmadmin user " + verb, Addr: "command line"}
	switch verb {
	case "add":
		return userAdd(ctx, st, name, password, *admin, by, stdout)
	case "passwd":
		err = st.SetPassword(ctx, name, password, by)
		if err == nil {
			fmt.Fprintf(stdout, "Changed the password of %q and ended its sessions.\n", name)
		}
	case "admin":
		err = st.SetAdmin(ctx, name, !*off, by)
		if err == nil {
			fmt.Fprintf(stdout, "%q is %s a cluster admin.\n", name, map[bool]string{false: "now", true: "no longer"}[*off])
		}
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("user %s: there is no user %q", verb, name)
	case errors.Is(err, store.ErrLastAdmin):
		return fmt.Errorf("user admin: %q is the last enabled cluster admin: make another account one first "+
			"(scmadmin user admin OTHER)", name)
	}
	return err
}

func userAdd(ctx context.Context, st *store.Store, name, password string, admin bool, by store.Actor, stdout io.Writer) error {
	_, err := st.CreateUser(ctx, name, password, admin, by)
	if errors.Is(err, store.ErrDuplicate) {
		return fmt.Errorf("user add: %q already exists; change its password with: scmadmin user passwd %s", name, name)
	}
	if err == nil {
		fmt.Fprintf(stdout, "Added %q%s.\n", name, map[bool]string{true: " (cluster admin)"}[admin])
	}
	return err
}

// readPassword reads the new password: asked twice without echo on a terminal, else one line.
func readPassword(stdin io.Reader, stdout io.Writer) (string, error) {
	var password string
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		ask := func(prompt string) (string, error) {
			fmt.Fprint(stdout, prompt)
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(stdout)
			return string(b), err
		}
		first, err := ask("New password: ")
		if err != nil {
			return "", err
		}
		again, err := ask("Repeat it: ")
		if err != nil {
			return "", err
		}
		if first != again {
			return "", errors.New("the two passwords differ; nothing was changed")
		}
		password = first
	} else {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !(errors.Is(err, io.EOF) && line != "") {
			return "", errors.New("no password on standard input: give it as one line")
		}
		password = strings.TrimRight(line, "\r\n")
	}
	if err := store.CheckPassword(password); err != nil {
		return "", err
	}
	return password, nil
}
