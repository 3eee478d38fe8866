// Command scmadmin serves the Source Code Management screen and manages its accounts.
//
//	scmadmin [serve]                 run the server
//	scmadmin user add NAME [--admin] add an account (password from standard input)
//	scmadmin user passwd NAME        change an account's password
//	scmadmin apikey add NAME         make an API key (--scope read|admin, --as USERNAME)
//	scmadmin apikey list             list the API keys
//	scmadmin apikey revoke NAME      refuse an API key from now on
//	scmadmin user admin NAME [--off] make an account a cluster admin, or take that away
//	scmadmin keys rotate             re-encrypt every secret with a new key
//	scmadmin backup FILE             write a consistent copy of the database
//	scmadmin export                  write every configuration as a configuration file
//	scmadmin apply -f FILE           make the configurations match the file (--dry-run, --prune)
//	scmadmin copy --from SRC --to DST copy a whole installation between SQLite and PostgreSQL
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "scmadmin:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(ctx, args, getenv, stdout)
	case "user":
		err = user(ctx, args, getenv, stdin, stdout)
	case "apikey":
		err = apikey(ctx, args, getenv, stdout)
	case "keys":
		err = keys(ctx, args, getenv, stdout)
	case "backup":
		err = backup(ctx, args, getenv, stdout)
	case "export":
		err = exportCmd(ctx, args, getenv, stdout)
	case "apply":
		err = applyCmd(ctx, args, getenv, stdin, stdout)
	case "copy":
		err = copyCommand(ctx, args, getenv, stdout)
	case "help":
		err = flag.ErrHelp
	default:
		err = fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return nil
	}
	return err
}

const usage = `usage:
  scmadmin [serve] [--addr ADDR] [--db FILE|URL] [--base-url URL] [--key-file FILE] [--ca-file FILE]
                   [--trusted-proxies CIDR,…] [--config-file FILE] [--recheck-interval DURATION]
                   [--build-hook-url URL]
  scmadmin user add NAME [--admin] [--db FILE|URL] [--key-file FILE]
  scmadmin user passwd NAME [--db FILE|URL] [--key-file FILE]
  scmadmin apikey add NAME [--scope read|admin] [--as USERNAME] [--db FILE|URL] [--key-file FILE]
  scmadmin apikey list [--db FILE|URL] [--key-file FILE]
  scmadmin apikey revoke NAME [--db FILE|URL] [--key-file FILE]
  scmadmin user admin NAME [--off] [--db FILE|URL] [--key-file FILE]
  scmadmin keys rotate [--db FILE|URL] [--key-file FILE]
  scmadmin backup FILE [--db FILE|URL] [--key-file FILE]
  scmadmin copy --from FILE|URL --to URL|FILE [--key-file FILE]
  scmadmin export [--db FILE|URL] [--key-file FILE]
  scmadmin apply -f FILE|- [--dry-run] [--prune] [--db FILE|URL] [--key-file FILE]
Flags override the SCMADMIN_* environment variables; see README.md.
`
