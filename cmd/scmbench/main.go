// Command scmbench measures scmadmin under load, each case as a ratio to a trivial handler
// measured in the same run behind the same middleware. It seeds a fresh database with N
// configurations, starts the real server in this process on 127.0.0.1, signs in, and drives
// it with a bounded load generator (loopback only). It reports; it does not gate. With
// -process it drives the scmadmin binary in a process of its own instead, as deployed.
//
// Each case is driven in several rounds, every round after the baseline's own, and reported
// by its median round: the machine's background noise then weighs on both sides of a ratio.
// The list is also driven while signed webhook deliveries arrive at a steady 300/s, and
// compared round by round with the list alone, driven just before it. Deliveries per second
// are their own case, pushes posted as fast as answered, with the server's build hook on (a
// sink on 127.0.0.1 takes the builds) unless -build-hook=false. The JSON API's cases carry
// API keys the store makes before the server starts.
//
// With -db postgres://… (a server where it may create databases), each size runs on a new
// PostgreSQL database instead of a SQLite file, and one more case drives the list through
// two servers on that database while deliveries arrive.
//
//	go run ./cmd/scmbench [-sizes 100,10000,100000] [-rounds 3] [-duration 1s] [-conns 32] [-cases regexp] [-build-hook=false] [-cpuprofile file] [-db postgres://…] [-process]
package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/store/keyring"
	"github.com/scmadmin/scmadmin/web"
	"github.com/scmadmin/scmadmin/web/provider"
)

const (
	adminPassword = "benchmark admin password"
	baselinePath  = "/bench/baseline"
	sameSizePath  = "/bench/same-size"
	listPath      = "/admin/scm"
	apiListPath   = "/v1/scms"
	apiCreatePath = "/v1/admin/scms"
	// hookSecret signs the deliveries, hooksPerSecond is their pace.
	hookSecret     = "scmbench webhook secret"
	hooksPerSecond = 300
)

func main() {
	sizes := flag.String("sizes", "100,10000,100000", "numbers of configurations to seed, one run each")
	var l load
	flag.IntVar(&l.rounds, "rounds", 5, "rounds of every case, each after a round of the baseline; the median round is reported")
	flag.DurationVar(&l.duration, "duration", time.Second, "how long each case is driven in each round")
	flag.IntVar(&l.conns, "conns", 32, "concurrent connections of the load generator")
	flag.IntVar(&l.maxRequests, "max-requests", 100_000, "a round of a case stops after this many requests even before -duration")
	only := flag.String("cases", "", "run only the cases whose names match this regexp (and the baseline)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the run (server and load generator; with -process, the load generator only) to this file")
	flag.BoolVar(&l.buildHook, "build-hook", true, "run the server with its build hook on (every build also queued in the outbox and POSTed to a local sink)")
	flag.StringVar(&l.db, "db", "", "a PostgreSQL server (postgres://…) where scmbench may create a database per size; default: SQLite files")
	flag.BoolVar(&l.process, "process", false, "drive the scmadmin binary in a process of its own, as deployed, instead of the server in scmbench's; "+
		"the baseline is then its /healthz (a database ping, and a write at most once a second), and the same-size reference and the second server are left out")
	flag.Parse()
	var err error
	l.only, err = regexp.Compile(*only)
	if err == nil && l.rounds < 1 {
		err = errors.New("-rounds must be at least 1")
	}
	if err == nil && *cpuProfile != "" {
		err = startCPUProfile(*cpuProfile)
		defer pprof.StopCPUProfile()
	}
	if err == nil {
		err = run(*sizes, l, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "scmbench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// load is how the cases are driven, and on which engine.
type load struct {
	db          string // a PostgreSQL server to create the databases on, "" for SQLite
	rounds      int
	duration    time.Duration // per case and round
	conns       int
	maxRequests int // per case and round
	only        *regexp.Regexp
	buildHook   bool
	process     bool // the scmadmin binary in its own process, not the server in this one
}

func startCPUProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	return pprof.StartCPUProfile(f)
}

func run(sizeList string, l load, out io.Writer) error {
	fmt.Fprintf(out, "scmbench: %s/%s, %d CPUs, %s, %d connections, %d rounds of %s per case\n",
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), l.conns, l.rounds, l.duration)
	binDir, err := os.MkdirTemp("", "scmbench-bin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(binDir)
	bin := filepath.Join(binDir, "scmadmin")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/scmadmin").CombinedOutput(); err != nil {
		return fmt.Errorf("build scmadmin (run scmbench from the repository root): %v\n%s", err, out)
	}
	startup, err := timeToHealthy(bin, l.db)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "start-up: the scmadmin binary answered /healthz 200 %s after it was started\n", startup.Round(time.Millisecond))

	listAt := map[int]time.Duration{}
	for _, field := range strings.Split(sizeList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil || n < 0 {
			return fmt.Errorf("bad size %q", field)
		}
		p50, err := runSize(bin, n, l, out)
		if err != nil {
			return err
		}
		listAt[n] = p50
	}
	if small, large := listAt[100], listAt[100_000]; small > 0 && large > 0 {
		fmt.Fprintf(out, "\nlist page p50 at 100,000 configurations is %.2f × its p50 at 100\n", float64(large)/float64(small))
	}
	return nil
}

// runSize seeds n configurations, serves them, and drives every case; it returns the list
// page's p50.
func runSize(bin string, n int, l load, out io.Writer) (time.Duration, error) {
	dir, err := os.MkdirTemp("", "scmbench-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	dsn, drop, err := newDatabase(dir, l.db)
	if err != nil {
		return 0, err
	}
	defer drop()
	st, fx, err := seeded(dir, dsn, n, out)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	var sv *served
	if l.process {
		sv, err = serveProcess(bin, dsn, dir, l.buildHook)
	} else {
		sv, err = serve(st, l.buildHook)
	}
	if err != nil {
		return 0, err
	}
	defer sv.stop()
	var second string // another server on the same PostgreSQL database
	if l.db != "" && !l.process {
		keys, err := keyring.Load(filepath.Join(dir, "scmadmin.key"))
		if err != nil {
			return 0, err
		}
		st2, err := store.Open(context.Background(), dsn, keys)
		if err != nil {
			return 0, err
		}
		defer st2.Close()
		sv2, err := serve(st2, false) // the build hook runs on the first
		if err != nil {
			return 0, err
		}
		defer sv2.stop()
		second = sv2.base
	}
	cases := sv.cases(n, fx, second, l.only)
	if len(cases) == 1 {
		return 0, fmt.Errorf("-cases %q matches no case (only the baseline would run)", l.only)
	}
	rounds, before, err := driveRounds(sv.base, sv.jar, cases, l)
	if err != nil {
		return 0, err
	}
	listP50 := report(out, cases, rounds, before)
	sv.stop()
	rss, err := serverRSS(bin, dsn, dir, l)
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(out, "server peak RSS (the scmadmin binary on this database, list and Add form driven): %s\n", rss)
	return listP50, nil
}

// fixture is what the cases need of the seeded database.
type fixture struct {
	hookTo int64  // the configuration the webhook case delivers to (0 when there is none)
	middle string // the id of the configuration in the middle of the seeded ones ("" when none)
	// API keys acting as the admin, one of each scope.
	readKey, adminKey string
}

// newDatabase names a new database for one size: a SQLite file in dir, or, with server set, a
// new PostgreSQL database there, which drop drops.
func newDatabase(dir, server string) (dsn string, drop func(), err error) {
	if server == "" {
		return filepath.Join(dir, "scmadmin.db"), func() {}, nil
	}
	admin, err := sql.Open("pgx", server)
	if err != nil {
		return "", nil, err
	}
	name := "scmbench_" + strings.ToLower(rand.Text()[:12])
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("-db: create a database: %w", err)
	}
	u, err := url.Parse(server)
	if err != nil {
		admin.Close()
		return "", nil, err
	}
	u.Path = "/" + name
	return u.String(), func() {
		admin.Exec("DROP DATABASE " + name + " WITH (FORCE)")
		admin.Close()
	}, nil
}

// seeded opens a fresh store on dsn, with its key file in dir, with the admin, its API keys and
// n configurations.
func seeded(dir, dsn string, n int, out io.Writer) (*store.Store, fixture, error) {
	ctx := context.Background()
	keys, _, err := keyring.LoadOrCreate(filepath.Join(dir, "scmadmin.key"))
	if err != nil {
		return nil, fixture{}, err
	}
	st, err := store.Open(ctx, dsn, keys)
	if err != nil {
		return nil, fixture{}, err
	}
	var fx fixture
	if _, err = st.CreateFirstAdmin(ctx, "admin", adminPassword); err == nil {
		fx.readKey, fx.adminKey, err = apiKeys(ctx, st)
	}
	start := time.Now()
	if err == nil {
		fx.hookTo, fx.middle, err = seed(ctx, st, n)
	}
	if err != nil {
		st.Close()
		return nil, fixture{}, err
	}
	fmt.Fprintf(out, "\n== %d configurations (seeded in %s)\n", n, time.Since(start).Round(time.Millisecond))
	return st, fx, nil
}

// apiKeys makes a read key and an admin key, both acting as the admin.
func apiKeys(ctx context.Context, st *store.Store) (read, admin string, err error) {
	by := store.Actor{Username: "scmbench"}
	if _, read, err = st.CreateAPIKey(ctx, "scmbench-read", store.ScopeRead, "admin", by); err != nil {
		return "", "", err
	}
	_, admin, err = st.CreateAPIKey(ctx, "scmbench-admin", store.ScopeAdmin, "admin", by)
	return read, admin, err
}

// served is the real server on 127.0.0.1, in this process or the binary in its own, and the admin signed in;
// with its build hook on, a local sink takes the builds.
type served struct {
	base     string
	jar      http.CookieJar
	baseline benchCase // the trivial handler, or the binary's cheapest route
	sameSize []byte    // the first list page, answered as is by sameSizePath (nil: no such route)
	stop     func()    // stops the server and its build hook's sink, once
}

func serve(st *store.Store, buildHook bool) (*served, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	sv := &served{base: "http://" + ln.Addr().String(), baseline: benchCase{name: "baseline (trivial handler)", path: baselinePath}}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	e, err := web.New(web.Config{BaseURL: sv.base, Logger: log, BuildHook: buildHook}, st)
	stopHook := func() {}
	if err == nil && buildHook {
		stopHook, err = startBuildHook(st, log)
	}
	if err != nil {
		ln.Close()
		return nil, err
	}
	// The baseline: a trivial handler behind the same middleware as every page.
	e.GET(baselinePath, func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
	// A reference for what a page's size costs by itself: as trivial, as long as the list.
	e.GET(sameSizePath, func(c echo.Context) error { return c.HTMLBlob(http.StatusOK, sv.sameSize) })
	srv := &http.Server{Handler: e}
	go srv.Serve(ln)
	sv.stop = sync.OnceFunc(func() { srv.Close(); stopHook() })
	if sv.jar, err = signIn(sv.base); err == nil {
		sv.sameSize, err = fetch(&http.Client{Jar: sv.jar, CheckRedirect: noRedirect}, sv.base+listPath)
	}
	if err != nil {
		sv.stop()
		return nil, err
	}
	return sv, nil
}

// serveProcess serves the database in dir with the scmadmin binary in a process of its own,
// its log on /dev/null, with the admin signed in; with its build hook on, towards a local sink.
func serveProcess(bin, dsn, dir string, buildHook bool) (*served, error) {
	var env []string
	stopSink := func() {}
	if buildHook {
		sink := newSink()
		env, stopSink = []string{"SCMADMIN_BUILD_HOOK_URL=" + sink.URL, "SCMADMIN_BUILD_HOOK_SECRET=" + buildHookSecret}, sink.Close
	}
	base, _, stop, err := startBinary(bin, dsn, dir, env...)
	if err != nil {
		stopSink()
		return nil, err
	}
	sv := &served{base: base, baseline: benchCase{name: "baseline (/healthz)", path: "/healthz"},
		stop: sync.OnceFunc(func() { stop(); stopSink() })}
	if sv.jar, err = signIn(base); err != nil {
		sv.stop()
		return nil, err
	}
	return sv, nil
}

// buildHookSecret signs the build hook's POSTs to the sink.
const buildHookSecret = "scmbench build hook secret"

// newSink is a platform on 127.0.0.1 that takes every build (204).
func newSink() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
}

// startBuildHook runs st's build hook towards a sink; stop stops both.
func startBuildHook(st *store.Store, log *slog.Logger) (stop func(), err error) {
	sink := newSink()
	hook, err := web.NewBuildHook(context.Background(), web.BuildHookConfig{URL: sink.URL, Secret: buildHookSecret, Logger: log}, st)
	if err != nil {
		sink.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { hook.Run(ctx); close(done) }()
	return func() { cancel(); <-done; sink.Close() }, nil
}

// cases are the cases to drive at n configurations, the baseline first, then those only matches.
func (sv *served) cases(n int, fx fixture, second string, only *regexp.Regexp) []benchCase {
	lastPage := max(1, (n+1+24)/25)
	cases := []benchCase{
		sv.baseline,
		{name: "list, first page", path: listPath},
		// Right after the list alone, to which it is compared round by round.
		{name: fmt.Sprintf("list, with %d deliveries/s", hooksPerSecond), path: listPath, hooks: hooksPerSecond, hookTo: fx.hookTo},
		{name: fmt.Sprintf("list, 2 servers, %d deliv./s", hooksPerSecond), path: listPath, hooks: hooksPerSecond, hookTo: fx.hookTo, second: second},
		{name: fmt.Sprintf("(trivial, as long: %d kB)", len(sv.sameSize)/1000), path: sameSizePath},
		{name: "list, search", path: "/admin/scm?q=bb4"},
		{name: fmt.Sprintf("list, last page (%d)", lastPage), path: fmt.Sprintf("/admin/scm?page=%d", lastPage)},
		{name: "Add form, Bitbucket Server", path: "/admin/scm/new?provider=bitbucket_server"},
		{name: "create (form post)", create: true},
		{name: "deliveries (push → build → outbox)", deliver: true, hookTo: fx.hookTo},
		{name: "API, list first page (25)", path: apiListPath + "?limit=25", apiKey: fx.readKey},
		{name: "API, one configuration", path: apiListPath + "/" + fx.middle, apiKey: fx.readKey},
		{name: "API, create (JSON post)", path: apiCreatePath, create: true, apiKey: fx.adminKey},
	}
	kept := slices.DeleteFunc(cases[1:], func(bc benchCase) bool {
		return !only.MatchString(bc.name) ||
			(bc.hooks > 0 || bc.deliver) && bc.hookTo == 0 || // no configuration to deliver to
			strings.Contains(bc.name, "2 servers") && second == "" || // one server: SQLite
			bc.path == sameSizePath && sv.sameSize == nil || // the binary has no such route
			bc.path == apiListPath+"/" // none to ask for
	})
	return cases[:1+len(kept)] // the baseline, and the cases kept
}

// driveRounds drives every case in l.rounds rounds, each round of the cases right after a
// round of the baseline (cases[0]). rounds[i] are case i's rounds, before[i] the baseline's
// round run just before each. The creates go last, once every read has run: they grow the
// database the reads measure.
func driveRounds(base string, jar http.CookieJar, cases []benchCase, l load) (rounds, before [][]result, err error) {
	rounds, before = make([][]result, len(cases)), make([][]result, len(cases))
	var reads, writes []int
	for i, bc := range cases[1:] {
		if bc.create || bc.deliver {
			writes = append(writes, i+1)
		} else {
			reads = append(reads, i+1)
		}
	}
	for _, group := range [][]int{reads, writes} {
		for range l.rounds {
			if len(group) == 0 {
				break
			}
			b, err := drive(base, jar, cases[0], l)
			if err != nil {
				return nil, nil, err
			}
			rounds[0] = append(rounds[0], b)
			for _, i := range group {
				r, err := drive(base, jar, cases[i], l)
				if err != nil {
					return nil, nil, err
				}
				rounds[i], before[i] = append(rounds[i], r), append(before[i], b)
			}
		}
	}
	before[0] = rounds[0]
	return rounds, before, nil
}

// report prints every case's median round and its ratio to the baseline, and for a case with
// deliveries its ratio to the list alone in the same rounds; it returns the list page's p50.
func report(out io.Writer, cases []benchCase, rounds, before [][]result) time.Duration {
	fmt.Fprintf(out, "%-30s %10s %9s %9s %7s %9s\n", "case", "req/s", "p50", "p99", "errors", "vs base")
	var listP50 time.Duration
	alone := slices.IndexFunc(cases, func(bc benchCase) bool { return bc.path == listPath && bc.hooks == 0 })
	var notes []string
	for i, bc := range cases {
		r, ratio := median(rounds[i], before[i])
		if i == alone {
			listP50 = r.p50
		}
		fmt.Fprintf(out, "%-30s %10.0f %9s %9s %7d %8.0f%%\n", bc.name, r.rate, r.p50.Round(time.Microsecond),
			r.p99.Round(time.Microsecond), r.errors, 100*ratio)
		if bc.hooks == 0 {
			continue
		}
		note := fmt.Sprintf("%s: deliveries sent %.0f/s, accepted %.0f/s", bc.name, r.sent, r.accepted)
		if alone >= 0 {
			_, vsAlone := median(rounds[i], rounds[alone])
			note += fmt.Sprintf("; %.0f%% of the list alone (median of the per-round ratios)", 100*vsAlone)
		}
		notes = append(notes, note)
	}
	for _, note := range notes {
		fmt.Fprintln(out, note)
	}
	return listP50
}

// serverRSS serves the database in dir with the scmadmin binary as its own process, drives
// the list and the Add form at it, and returns its peak resident set size (VmHWM).
func serverRSS(bin, dsn, dir string, l load) (string, error) {
	base, pid, stop, err := startBinary(bin, dsn, dir)
	if err != nil {
		return "", err
	}
	defer stop()
	jar, err := signIn(base)
	if err != nil {
		return "", err
	}
	for _, path := range []string{listPath, "/admin/scm?q=bb4", "/admin/scm/new?provider=bitbucket_server"} {
		if _, err := drive(base, jar, benchCase{name: path, path: path}, l); err != nil {
			return "", err
		}
	}
	return vmHWM(fmt.Sprintf("/proc/%d/status", pid)), nil
}

// seed adds n Bitbucket Server configurations through the store, each with its secrets; the
// first also gets hookSecret as its webhook secret, as a configuration added on the page gets
// one, and the registered repository ALGO/scmbench the deliveries push to. It returns the first one's key (0 when n is 0) and the id of the one in the middle.
func seed(ctx context.Context, st *store.Store, n int) (hookTo int64, middle string, err error) {
	p, _ := provider.Lookup("bitbucket_server")
	for i := range n {
		form := url.Values{
			"website_url": {fmt.Sprintf("https://bb%d.example.com", i)}, "api_url": {fmt.Sprintf("https://bb%d.example.com/rest/api/1.0", i)},
			"ssh_url": {fmt.Sprintf("ssh://git@bb%d.example.com:7999", i)}, "project_key": {"ALGO"}, "access_token": {fmt.Sprintf("token-%d", i)},
		}
		vals, errs := p.Validate(form, nil)
		if len(errs) > 0 {
			return 0, "", fmt.Errorf("seed: %v", errs)
		}
		cfg, secrets := p.Config(vals)
		if i == 0 {
			secrets[store.WebhookSecret] = hookSecret
		}
		created, err := st.CreateSCMConfig(ctx, cfg, secrets, store.Actor{Username: "scmbench"})
		if err != nil {
			return 0, "", err
		}
		if i == 0 {
			hookTo = created.ID
			// Pushes build the repositories registered as algorithms' only.
			if _, err := st.RegisterRepository(ctx, store.Repository{ConfigID: created.ID, Owner: "ALGO", Name: "scmbench"},
				store.Actor{Username: "scmbench"}); err != nil {
				return 0, "", err
			}
		}
		if i == n/2 {
			middle = created.Ref
		}
	}
	return hookTo, middle, nil
}

var csrfInput = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

func csrfOf(c *http.Client, u string) (string, error) {
	body, err := fetch(c, u)
	if err != nil {
		return "", err
	}
	m := csrfInput.FindSubmatch(body)
	if m == nil {
		return "", fmt.Errorf("no CSRF token on %s", u)
	}
	return string(m[1]), nil
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// signIn returns a cookie jar signed in as the admin.
func signIn(base string) (http.CookieJar, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: noRedirect}
	token, err := csrfOf(c, base+"/login")
	if err != nil {
		return nil, err
	}
	res, err := c.PostForm(base+"/login", url.Values{"_csrf": {token}, "username": {"admin"}, "password": {adminPassword}})
	if err != nil {
		return nil, err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		return nil, fmt.Errorf("sign-in answered %d", res.StatusCode)
	}
	return jar, nil
}

type benchCase struct {
	name string
	path string
	// create posts unique values instead of a GET of path: the Add form, or with apiKey a
	// JSON body to path.
	create bool
	apiKey string // sent as Authorization: Simple apiKey
	// hooks is how many signed deliveries a second are posted to configuration hookTo's
	// webhook while the case is driven; deliver makes the case itself such deliveries, as
	// many as its connections can post (each a new build).
	hooks   int
	deliver bool
	hookTo  int64
	// second, when set, is another server on the same database: half the connections drive it.
	second string
}

type result struct {
	rate     float64
	p50, p99 time.Duration
	errors   int
	// Deliveries posted and accepted (a build started) per second during the round.
	sent, accepted float64
}

// median returns the median of a case's rounds (by requests/s) and the median of its
// ratios to the baseline's rounds, each round to the baseline round just before it.
func median(rounds, baseline []result) (result, float64) {
	ratios := make([]float64, len(rounds))
	for i, r := range rounds {
		ratios[i] = r.rate / baseline[i].rate
	}
	slices.Sort(ratios)
	byRate := slices.Clone(rounds)
	slices.SortFunc(byRate, func(a, b result) int { return cmp.Compare(a.rate, b.rate) })
	return byRate[len(byRate)/2], ratios[len(ratios)/2]
}

// drive runs bc from conns connections for duration (or maxRequests), loopback only, with
// bc's deliveries posted meanwhile.
func drive(base string, jar http.CookieJar, bc benchCase, l load) (result, error) {
	// Responses are read 64 KiB at a time, as a browser does, not in net/http's 4 KiB default:
	// the load generator shares the server's cores, and its reads would be counted as the
	// cost of a large page.
	transport := &http.Transport{MaxIdleConnsPerHost: l.conns, MaxConnsPerHost: l.conns, ReadBufferSize: 64 << 10}
	defer transport.CloseIdleConnections()
	client := &http.Client{Jar: jar, Transport: transport, CheckRedirect: noRedirect, Timeout: 10 * time.Second}
	var token string
	if bc.create && bc.apiKey == "" {
		var err error
		if token, err = csrfOf(client, base+"/admin/scm/new"); err != nil {
			return result{}, err
		}
	}
	var hooks *deliveries
	if bc.hooks > 0 {
		hooks = startDeliveries(base, bc)
	}
	start := time.Now()
	all, errs := hammer(client, base, bc, token, l, start.Add(l.duration))
	elapsed := time.Since(start)
	var r result
	if hooks != nil {
		r.sent, r.accepted = hooks.finish()
	}
	if len(all) == 0 {
		return result{}, fmt.Errorf("%s: no request completed", bc.name)
	}
	slices.Sort(all)
	r.rate, r.errors = float64(len(all))/elapsed.Seconds(), errs
	r.p50, r.p99 = all[len(all)/2], all[min(len(all)-1, len(all)*99/100)]
	return r, nil
}

// hammer makes bc's requests from l.conns connections until deadline or l.maxRequests, and
// returns how long each took and how many failed.
func hammer(client *http.Client, base string, bc benchCase, token string, l load, deadline time.Time) ([]time.Duration, int) {
	var (
		issued   atomic.Int64
		errCount atomic.Int64
		mu       sync.Mutex
		all      []time.Duration
		wg       sync.WaitGroup
	)
	for c := range l.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			base := base
			if bc.second != "" && c%2 == 1 {
				base = bc.second
			}
			var mine []time.Duration
			for time.Now().Before(deadline) {
				if issued.Add(1) > int64(l.maxRequests) {
					break
				}
				t0 := time.Now()
				ok := request(client, base, bc, token)
				mine = append(mine, time.Since(t0))
				if !ok {
					errCount.Add(1)
				}
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return all, int(errCount.Load())
}

// hooksInFlight bounds the deliveries awaiting their answer, as the server bounds those it
// reads at once.
const hooksInFlight = 16

// deliveries posts signed deliveries to one configuration's webhook at a steady pace until
// finished. Each is sent from its own goroutine, so that a slow answer does not slow the
// pace (open loop), at most hooksInFlight at once: behind, it catches up as slots free.
type deliveries struct {
	sent, accepted atomic.Int64
	start          time.Time
	stop, done     chan struct{}
}

// deliveriesSent numbers the deliveries, unique across rounds: each its own request id and commit.
var deliveriesSent atomic.Int64

func startDeliveries(base string, bc benchCase) *deliveries {
	d := &deliveries{start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	transport := &http.Transport{MaxIdleConnsPerHost: hooksInFlight, MaxConnsPerHost: hooksInFlight}
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	u := fmt.Sprintf("%s/hooks/scm/%d", base, bc.hookTo)
	interval := time.Second / time.Duration(bc.hooks)
	go func() {
		var wg sync.WaitGroup
		defer func() { wg.Wait(); transport.CloseIdleConnections(); close(d.done) }()
		slots := make(chan struct{}, hooksInFlight)
		for next := d.start; ; next = next.Add(interval) {
			select {
			case <-d.stop:
				return
			case <-time.After(time.Until(next)):
			}
			select {
			case <-d.stop:
				return
			case slots <- struct{}{}:
			}
			wg.Add(1)
			go func() {
				defer func() { <-slots; wg.Done() }()
				d.sent.Add(1)
				if deliver(client, u) {
					d.accepted.Add(1)
				}
			}()
		}
	}()
	return d
}

// finish stops d, waits for the answers to what it sent, and returns how many deliveries a
// second it sent and how many of them were accepted.
func (d *deliveries) finish() (sent, accepted float64) {
	close(d.stop)
	<-d.done
	secs := time.Since(d.start).Seconds()
	return float64(d.sent.Load()) / secs, float64(d.accepted.Load()) / secs
}

// pushPayload is Bitbucket Server's repo:refs_changed for a push to master of one repository
// of the seeded project (ALGO), with the new commit to fill in.
const pushPayload = `{"eventKey":"repo:refs_changed","date":"2026-11-30T12:00:00+0000","actor":{"name":"scmbench"},` +
	`"repository":{"slug":"scmbench","name":"scmbench","project":{"key":"ALGO"}},"changes":[{"ref":` +
	`{"id":"refs/heads/master","displayId":"master","type":"BRANCH"},"refId":"refs/heads/master",` +
	`"fromHash":"0000000000000000000000000000000000000000","toHash":"%040x","type":"UPDATE"}]}`

// deliver posts one delivery to u and reports whether it was accepted: a build was started.
func deliver(client *http.Client, u string) bool {
	req := pushRequest(u)
	res, err := client.Do(req)
	if err != nil {
		return false
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(res.Body)
	return err == nil && res.StatusCode == http.StatusAccepted && bytes.HasPrefix(answer, []byte(store.DeliveryAccepted+":"))
}

// pushRequest is one delivery to u, signed as Bitbucket Server signs it, with its own
// request id and commit.
func pushRequest(u string) *http.Request {
	n := deliveriesSent.Add(1)
	body := fmt.Appendf(nil, pushPayload, n)
	mac := hmac.New(sha256.New, []byte(hookSecret))
	mac.Write(body)
	req, _ := http.NewRequest(http.MethodPost, u, bytes.NewReader(body)) // u is the bench's own, well formed
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Event-Key", "repo:refs_changed")
	req.Header.Set("X-Request-Id", fmt.Sprintf("scmbench-%d", n))
	req.Header.Set("X-Hub-Signature", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	return req
}

// creates numbers the configurations the create case adds, unique across its rounds.
var creates atomic.Int64

// fetch returns the body of a GET of u.
func fetch(c *http.Client, u string) ([]byte, error) {
	res, err := c.Get(u)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, res.Status)
	}
	return io.ReadAll(res.Body)
}

// apiCreateBody is a configuration as README's API section creates one, with its host to fill in.
const apiCreateBody = `{"provider": "bitbucket_server", "name": "Load", "urls": {"web": "https://%[1]s",` +
	` "api": "https://%[1]s/rest/api/1.0", "ssh": "ssh://git@%[1]s:7999"},` +
	` "scm": {"project_key": "LOAD", "access_token": "load-token"}}`

// newRequest returns one request of bc and the status it should be answered with.
func (bc benchCase) newRequest(base, token string) (*http.Request, int, error) {
	if bc.deliver {
		return pushRequest(fmt.Sprintf("%s/hooks/scm/%d", base, bc.hookTo)), http.StatusAccepted, nil
	}
	if !bc.create {
		req, err := http.NewRequest(http.MethodGet, base+bc.path, nil)
		return req, http.StatusOK, err
	}
	n := creates.Add(1)
	if bc.apiKey == "" {
		form := url.Values{
			"_csrf": {token}, "provider": {"bitbucket_server"},
			"website_url": {fmt.Sprintf("https://load-%d.example.com", n)},
			"api_url":     {"https://load.example.com/rest/api/1.0"}, "ssh_url": {"ssh://git@load.example.com:7999"},
			"project_key": {"LOAD"}, "access_token": {"load-token"},
		}
		req, err := http.NewRequest(http.MethodPost, base+"/admin/scm", strings.NewReader(form.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		return req, http.StatusSeeOther, err
	}
	body := fmt.Sprintf(apiCreateBody, fmt.Sprintf("api-load-%d.example.com", n))
	req, err := http.NewRequest(http.MethodPost, base+bc.path, strings.NewReader(body))
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, http.StatusCreated, err
}

// request makes one request of bc and reports whether it got the answer it should.
func request(client *http.Client, base string, bc benchCase, token string) bool {
	req, want, err := bc.newRequest(base, token)
	if err != nil {
		return false
	}
	if bc.apiKey != "" {
		req.Header.Set("Authorization", "Simple "+bc.apiKey)
	}
	res, err := client.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode == want
}

// timeToHealthy starts the scmadmin binary on a fresh database and returns how long it took
// from the start to its first 200 on /healthz.
func timeToHealthy(bin, server string) (time.Duration, error) {
	dir, err := os.MkdirTemp("", "scmbench-start-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	dsn, drop, err := newDatabase(dir, server)
	if err != nil {
		return 0, err
	}
	defer drop()
	start := time.Now()
	_, _, stop, err := startBinary(bin, dsn, dir, "SCMADMIN_ADMIN_PASSWORD="+adminPassword)
	if err != nil {
		return 0, err
	}
	defer stop()
	return time.Since(start), nil
}

// startBinary starts the scmadmin binary on dsn, with its key file in dir and env added to
// the environment, on a free port of 127.0.0.1, and waits until /healthz answers 200. It
// returns the server's base URL, its process id, and stop, which kills it.
func startBinary(bin, dsn, dir string, env ...string) (base string, pid int, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", 0, nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	// The seeded configurations name hosts under example.com: no health check may look them up.
	cmd := exec.Command(bin, "--addr", addr, "--db", dsn, "--key-file", filepath.Join(dir, "scmadmin.key"), "--recheck-interval", "0")
	cmd.Env = append(os.Environ(), env...)
	var stderr firstBytes // why it did not start, if it does not
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return "", 0, nil, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop = func() { cmd.Process.Kill(); <-exited }
	base = "http://" + addr
	if err := waitHealthy(base, exited); err != nil {
		stop()
		return "", 0, nil, fmt.Errorf("%w; its standard error: %q", err, stderr)
	}
	return base, cmd.Process.Pid, stop, nil
}

// firstBytes keeps the first 4 KiB written to it, and takes the rest without keeping it.
// The process's Wait has copied all it wrote once stop returns: read it after that.
type firstBytes []byte

func (w *firstBytes) Write(p []byte) (int, error) {
	*w = append(*w, p[:min(len(p), 4096-len(*w))]...)
	return len(p), nil
}

// waitHealthy polls base's /healthz until it answers 200, for at most 10 s, or until the
// server's process has exited.
func waitHealthy(base string, exited <-chan struct{}) error {
	client := &http.Client{Timeout: time.Second}
	for start := time.Now(); time.Since(start) < 10*time.Second; time.Sleep(2 * time.Millisecond) {
		select {
		case <-exited:
			return fmt.Errorf("the scmadmin binary exited before %s answered /healthz", base)
		default:
		}
		if res, err := client.Get(base + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("%s did not answer /healthz within 10 s", base)
}

// vmHWM reads a process's peak resident set size from its /proc status file.
func vmHWM(status string) string {
	data, err := os.ReadFile(status)
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
