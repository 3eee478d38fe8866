package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/store/keyring"
	"github.com/scmadmin/scmadmin/web"
)

// config is scmadmin's configuration: flags override SCMADMIN_* environment variables, and
// the defaults make `go run ./cmd/scmadmin` work on a fresh machine.
type config struct {
	Addr    string
	DB      string
	BaseURL string
	KeyFile string
	CAFile  string
	// TrustedProxies is a comma-separated list of CIDRs; see trustedProxies.
	TrustedProxies string
	// BuildHookURL receives every build (SCMADMIN_BUILD_HOOK_URL), signed with
	// SCMADMIN_BUILD_HOOK_SECRET, which has no flag: a flag shows in the process list.
	BuildHookURL, buildHookSecret string
	// ConfigFile is the configuration file serve applies at start and on SIGHUP.
	ConfigFile string
	// RecheckInterval is a Go duration; see recheckInterval.
	RecheckInterval string
	// dbFlag is where the command took DB from, for errors: by default --db (SCMADMIN_DB).
	dbFlag string
}

// flags registers the configuration's flags on fs, with defaults from the environment.
func (c *config) flags(fs *flag.FlagSet, getenv func(string) string) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	fs.StringVar(&c.Addr, "addr", env("SCMADMIN_ADDR", ":8080"), "listen address")
	fs.StringVar(&c.DB, "db", env("SCMADMIN_DB", "scmadmin.db"), "SQLite database file, or postgres:// URL (created or migrated on start)")
	fs.StringVar(&c.BaseURL, "base-url", env("SCMADMIN_BASE_URL", ""), "the public URL; https:// turns on Secure cookies and HSTS (default http://localhost:PORT)")
	fs.StringVar(&c.KeyFile, "key-file", env("SCMADMIN_KEY_FILE", ""), "the keys that encrypt stored secrets (default scmadmin.key beside the database)")
	fs.StringVar(&c.CAFile, "ca-file", env("SCMADMIN_CA_FILE", ""), "extra PEM certificates trusted when testing connections (internal CAs)")
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", env("SCMADMIN_TRUSTED_PROXIES", ""),
		"comma-separated CIDRs of the reverse proxies whose X-Forwarded-For is believed (default none)")
	fs.StringVar(&c.BuildHookURL, "build-hook-url", env("SCMADMIN_BUILD_HOOK_URL", ""),
		"where every build is POSTed, signed with SCMADMIN_BUILD_HOOK_SECRET (default none)")
	c.buildHookSecret = getenv("SCMADMIN_BUILD_HOOK_SECRET")
	fs.StringVar(&c.ConfigFile, "config-file", env("SCMADMIN_CONFIG_FILE", ""),
		"a configuration file (scmadmin export's format) applied at start and on SIGHUP; the configurations it lists are managed by it")
	fs.StringVar(&c.RecheckInterval, "recheck-interval", env("SCMADMIN_RECHECK_INTERVAL", web.DefaultRecheckInterval.String()),
		"how often every enabled configuration is tested again, a Go duration (15m, 1h30m); 0 turns it off")
}

// recheckInterval parses the recheck interval.
func (c *config) recheckInterval() (time.Duration, error) {
	d, err := time.ParseDuration(c.RecheckInterval)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("SCMADMIN_RECHECK_INTERVAL: %q is not a duration like 15m or 1h (0 turns the checks off)", c.RecheckInterval)
	}
	return d, nil
}

// dbName names the database for a log line or a message: the file, or PostgreSQL's URL
// without its password.
func (c *config) dbName() string {
	if !store.IsPostgres(c.DB) {
		return c.DB
	}
	u, err := url.Parse(c.DB)
	if err != nil {
		return "the PostgreSQL database of SCMADMIN_DB"
	}
	u.RawQuery = "" // which may hold a password too
	return u.Redacted()
}

// baseURL is the public URL: as configured, or else this machine at the port listened on.
func (c *config) baseURL(listening net.Addr) string {
	if c.BaseURL != "" {
		return c.BaseURL
	}
	port := "8080"
	if a, ok := listening.(*net.TCPAddr); ok {
		port = strconv.Itoa(a.Port)
	}
	return "http://localhost:" + port
}

// keyFile is the key file: as configured, or else scmadmin.key beside a SQLite database, or in
// the working directory for a PostgreSQL one.
func (c *config) keyFile() string {
	switch {
	case c.KeyFile != "":
		return c.KeyFile
	case store.IsPostgres(c.DB):
		return "scmadmin.key"
	}
	return filepath.Join(filepath.Dir(c.DB), "scmadmin.key")
}

// parseCommand reads a subcommand's flags (the configuration's, and those extra adds) and
// returns its configuration and positional arguments. flag.ErrHelp means help was asked for:
// run answers it with the usage.
func parseCommand(name string, args []string, getenv func(string) string, extra func(*flag.FlagSet)) (config, []string, error) {
	var cfg config
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	cfg.flags(fs, getenv)
	if extra != nil {
		extra(fs)
	}
	pos, err := parse(fs, args)
	return cfg, pos, err
}

// parse parses args with fs, letting flags come before, between or after the positional
// arguments, which it returns.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// openStore opens the keyring and the database, creating both if the database does not
// exist yet. The key file is made only together with a new database: a database whose key
// file is missing keeps secrets nothing can read, and starting with a fresh key would hide
// that until a secret is needed.
func (c *config) openStore(ctx context.Context) (*store.Store, error) {
	return c.open(ctx, true)
}

// openExistingStore is openStore for commands that work on a database that must exist
// (backup, keys rotate, user passwd): a mistyped path is an error, not a new database.
func (c *config) openExistingStore(ctx context.Context) (*store.Store, error) {
	return c.open(ctx, false)
}

func (c *config) open(ctx context.Context, create bool) (*store.Store, error) {
	if store.IsPostgres(c.DB) {
		return c.openPostgres(ctx, create)
	}
	var keys *keyring.Keyring
	var err error
	if _, statErr := os.Stat(c.DB); errors.Is(statErr, fs.ErrNotExist) {
		if !create {
			return nil, fmt.Errorf("there is no database at %s: give its path with %s", c.DB, cmp.Or(c.dbFlag, "--db (SCMADMIN_DB)"))
		}
		keys, _, err = keyring.LoadOrCreate(c.keyFile())
	} else {
		keys, err = keyring.Load(c.keyFile())
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("the database %s exists but its key file %s does not: restore the key file from "+
				"the backup you made with the database, or point --key-file (SCMADMIN_KEY_FILE) at it", c.DB, c.keyFile())
		}
	}
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, c.DB, keys)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	return st, nil
}

// openPostgres is open for a PostgreSQL database, which the server itself holds: nothing here
// can tell a new one from a mistyped one, and the URL is never repeated (it may hold a
// password). A key file is made only for a database with no secret sealed yet.
func (c *config) openPostgres(ctx context.Context, create bool) (*store.Store, error) {
	keys, err := keyring.Load(c.keyFile())
	made := false
	if errors.Is(err, fs.ErrNotExist) {
		if !create {
			return nil, fmt.Errorf("the key file %s does not exist: point --key-file (SCMADMIN_KEY_FILE) at the key file "+
				"the servers of this database use", c.keyFile())
		}
		keys, made, err = keyring.LoadOrCreate(c.keyFile())
	}
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, c.DB, keys)
	if err != nil {
		return nil, fmt.Errorf("open the PostgreSQL database of SCMADMIN_DB: %w", err)
	}
	if made {
		if err := st.CheckKeys(ctx); err != nil {
			st.Close()
			os.Remove(c.keyFile())
			return nil, fmt.Errorf("the database holds secrets but the key file %s did not exist: point --key-file "+
				"(SCMADMIN_KEY_FILE) at the key file its servers use (%w)", c.keyFile(), err)
		}
	}
	return st, nil
}

// extraCAs reads the CA file, if one is configured.
func (c *config) extraCAs() ([]byte, error) {
	if c.CAFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, fmt.Errorf("SCMADMIN_CA_FILE: %w", err)
	}
	return pem, nil
}

// trustedProxies parses the trusted proxies: CIDRs, or single addresses, separated by commas.
func (c *config) trustedProxies() ([]*net.IPNet, error) {
	var nets []*net.IPNet
	for _, s := range strings.Split(c.TrustedProxies, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if ip := net.ParseIP(s); ip != nil {
			s += map[bool]string{true: "/32", false: "/128"}[ip.To4() != nil]
		}
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			return nil, fmt.Errorf("SCMADMIN_TRUSTED_PROXIES: %q is not an address range like 10.0.0.0/8 or 192.0.2.7", s)
		}
		nets = append(nets, n)
	}
	return nets, nil
}
