package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/scmadmin/scmadmin/store"
)

func user(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	var admin *bool
	cfg, pos, err := parseCommand("user", args, getenv, func(fs *flag.FlagSet) {
		admin = fs.Bool("admin", false, "make the account a cluster admin")
	})
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if err != nil || len(pos) != 2 || (pos[0] != "add" && pos[0] != "passwd") || (*admin && pos[0] != "add") {
		return fmt.Errorf("user: bad arguments %q\n%s", args, usage)
	}
	verb, name := pos[0], pos[1]
	if err := store.CheckUsername(name); err != nil {
		return fmt.Errorf("user %s: %w", verb, err)
	}
	password, err := readPassword(stdin, stdout)
	if err != nil {
		return err
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
	switch verb {
	case "add":
		_, err = st.CreateUser(ctx, name, password, *admin)
		if errors.Is(err, store.ErrDuplicate) {
			return fmt.Errorf("user add: %q already exists; change its password with: scmadmin user passwd %s", name, name)
		}
		if err == nil {
			fmt.Fprintf(stdout, "Added %q%s.\n", name, map[bool]string{true: " (cluster admin)"}[*admin])
		}
	case "passwd":
		err = st.SetPassword(ctx, name, password)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("user passwd: there is no user %q", name)
		}
		if err == nil {
			fmt.Fprintf(stdout, "Changed the password of %q and ended its sessions.\n", name)
		}
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
