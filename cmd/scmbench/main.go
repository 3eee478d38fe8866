// Command scmbench measures scmadmin under load, each case as a ratio to a trivial handler
// measured in the same run behind the same middleware. It seeds a fresh database with N
// configurations, starts the real server in this process on 127.0.0.1, signs in, and drives
// it with a bounded load generator (loopback only). It reports; it does not gate.
//
// Each case is driven in several rounds, every round after the baseline's own, and reported
// by its median round: the machine's background noise then weighs on both sides of a ratio.
//
//	go run ./cmd/scmbench [-sizes 100,10000,100000] [-rounds 3] [-duration 1s] [-conns 32] [-cases regexp] [-cpuprofile file]
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
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
)

func main() {
	sizes := flag.String("sizes", "100,10000,100000", "numbers of configurations to seed, one run each")
	var l load
	flag.IntVar(&l.rounds, "rounds", 5, "rounds of every case, each after a round of the baseline; the median round is reported")
	flag.DurationVar(&l.duration, "duration", time.Second, "how long each case is driven in each round")
	flag.IntVar(&l.conns, "conns", 32, "concurrent connections of the load generator")
	flag.IntVar(&l.maxRequests, "max-requests", 100_000, "a round of a case stops after this many requests even before -duration")
	only := flag.String("cases", "", "run only the cases whose names match this regexp (and the baseline)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the run (server and load generator) to this file")
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

// load is how the cases are driven.
type load struct {
	rounds      int
	duration    time.Duration // per case and round
	conns       int
	maxRequests int // per case and round
	only        *regexp.Regexp
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
	startup, err := timeToHealthy(bin)
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
	ctx := context.Background()
	keys, _, err := keyring.LoadOrCreate(filepath.Join(dir, "scmadmin.key"))
	if err != nil {
		return 0, err
	}
	st, err := store.Open(ctx, filepath.Join(dir, "scmadmin.db"), keys)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	if _, err := st.CreateFirstAdmin(ctx, "admin", adminPassword); err != nil {
		return 0, err
	}
	seeded := time.Now()
	if err := seed(ctx, st, n); err != nil {
		return 0, err
	}
	fmt.Fprintf(out, "\n== %d configurations (seeded in %s)\n", n, time.Since(seeded).Round(time.Millisecond))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	base := "http://" + ln.Addr().String()
	e, err := web.New(web.Config{BaseURL: base, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}, st)
	if err != nil {
		return 0, err
	}
	// The baseline: a trivial handler behind the same middleware as every page.
	e.GET(baselinePath, func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
	// A reference for what a page's size costs by itself: as trivial, as long as the list.
	var sameSize []byte
	e.GET(sameSizePath, func(c echo.Context) error { return c.HTMLBlob(http.StatusOK, sameSize) })
	srv := &http.Server{Handler: e}
	go srv.Serve(ln)
	defer srv.Close()

	jar, err := signIn(base)
	if err != nil {
		return 0, err
	}
	if sameSize, err = fetch(&http.Client{Jar: jar, CheckRedirect: noRedirect}, base+"/admin/scm"); err != nil {
		return 0, err
	}
	lastPage := max(1, (n+1+24)/25)
	cases := []benchCase{
		{name: "baseline (trivial handler)", path: baselinePath},
		{name: "list, first page", path: "/admin/scm"},
		{name: fmt.Sprintf("(trivial, as long: %d kB)", len(sameSize)/1000), path: sameSizePath},
		{name: "list, search", path: "/admin/scm?q=bb4"},
		{name: fmt.Sprintf("list, last page (%d)", lastPage), path: fmt.Sprintf("/admin/scm?page=%d", lastPage)},
		{name: "Add form, Bitbucket Server", path: "/admin/scm/new?provider=bitbucket_server"},
		{name: "create (form post)", create: true},
	}
	cases = slices.DeleteFunc(cases, func(bc benchCase) bool { return bc.path != baselinePath && !l.only.MatchString(bc.name) })
	// rounds[i] are case i's rounds, before[i] the baseline's round run just before each. The
	// creates go last, once every read has run: they grow the database the reads measure.
	rounds, before := make([][]result, len(cases)), make([][]result, len(cases))
	var reads, writes []int
	for i, bc := range cases[1:] {
		if bc.create {
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
				return 0, err
			}
			rounds[0] = append(rounds[0], b)
			for _, i := range group {
				r, err := drive(base, jar, cases[i], l)
				if err != nil {
					return 0, err
				}
				rounds[i], before[i] = append(rounds[i], r), append(before[i], b)
			}
		}
	}
	before[0] = rounds[0]
	fmt.Fprintf(out, "%-30s %10s %9s %9s %7s %9s\n", "case", "req/s", "p50", "p99", "errors", "vs base")
	var listP50 time.Duration
	for i, bc := range cases {
		r, ratio := median(rounds[i], before[i])
		if bc.path == "/admin/scm" {
			listP50 = r.p50
		}
		fmt.Fprintf(out, "%-30s %10.0f %9s %9s %7d %8.0f%%\n", bc.name, r.rate, r.p50.Round(time.Microsecond),
			r.p99.Round(time.Microsecond), r.errors, 100*ratio)
	}
	srv.Close()
	rss, err := serverRSS(bin, dir, l)
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(out, "server peak RSS (the scmadmin binary on this database, list and Add form driven): %s\n", rss)
	return listP50, nil
}

// serverRSS serves the database in dir with the scmadmin binary as its own process, drives
// the list and the Add form at it, and returns its peak resident set size (VmHWM).
func serverRSS(bin, dir string, l load) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "--addr", addr, "--db", filepath.Join(dir, "scmadmin.db"))
	if err := cmd.Start(); err != nil {
		return "", err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	base := "http://" + addr
	if err := waitHealthy(base); err != nil {
		return "", err
	}
	jar, err := signIn(base)
	if err != nil {
		return "", err
	}
	for _, path := range []string{"/admin/scm", "/admin/scm?q=bb4", "/admin/scm/new?provider=bitbucket_server"} {
		if _, err := drive(base, jar, benchCase{name: path, path: path}, l); err != nil {
			return "", err
		}
	}
	return vmHWM(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)), nil
}

// seed adds n Bitbucket Server configurations through the store, each with its secrets.
func seed(ctx context.Context, st *store.Store, n int) error {
	p, _ := provider.Lookup("bitbucket_server")
	for i := range n {
		form := url.Values{
			"website_url": {fmt.Sprintf("https://bb%d.example.com", i)}, "api_url": {fmt.Sprintf("https://bb%d.example.com/rest/api/1.0", i)},
			"ssh_url": {fmt.Sprintf("ssh://git@bb%d.example.com:7999", i)}, "project_key": {"ALGO"}, "access_token": {fmt.Sprintf("token-%d", i)},
		}
		vals, errs := p.Validate(form, nil)
		if len(errs) > 0 {
			return fmt.Errorf("seed: %v", errs)
		}
		cfg, secrets := p.Config(vals)
		if _, err := st.CreateSCMConfig(ctx, cfg, secrets, store.Actor{Username: "scmbench"}); err != nil {
			return err
		}
	}
	return nil
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
	name   string
	path   string
	create bool // post the Add form with unique values instead of a GET of path
}

type result struct {
	rate     float64
	p50, p99 time.Duration
	errors   int
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

// drive runs bc from conns connections for duration (or maxRequests), loopback only.
func drive(base string, jar http.CookieJar, bc benchCase, l load) (result, error) {
	conns, duration, maxRequests := l.conns, l.duration, l.maxRequests
	// Responses are read 64 KiB at a time, as a browser does, not in net/http's 4 KiB default:
	// the load generator shares the server's cores, and its reads would be counted as the
	// cost of a large page.
	transport := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, ReadBufferSize: 64 << 10}
	defer transport.CloseIdleConnections()
	client := &http.Client{Jar: jar, Transport: transport, CheckRedirect: noRedirect, Timeout: 10 * time.Second}
	var token string
	if bc.create {
		var err error
		if token, err = csrfOf(client, base+"/admin/scm/new"); err != nil {
			return result{}, err
		}
	}
	var (
		issued   atomic.Int64
		errCount atomic.Int64
		mu       sync.Mutex
		all      []time.Duration
		wg       sync.WaitGroup
	)
	deadline := time.Now().Add(duration)
	start := time.Now()
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(deadline) {
				if issued.Add(1) > int64(maxRequests) {
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
	elapsed := time.Since(start)
	if len(all) == 0 {
		return result{}, fmt.Errorf("%s: no request completed", bc.name)
	}
	slices.Sort(all)
	return result{
		rate:   float64(len(all)) / elapsed.Seconds(),
		p50:    all[len(all)/2],
		p99:    all[min(len(all)-1, len(all)*99/100)],
		errors: int(errCount.Load()),
	}, nil
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

// request makes one request of bc and reports whether it got the answer it should.
func request(client *http.Client, base string, bc benchCase, token string) bool {
	var res *http.Response
	var err error
	want := http.StatusOK
	if bc.create {
		want = http.StatusSeeOther
		res, err = client.PostForm(base+"/admin/scm", url.Values{
			"_csrf": {token}, "provider": {"bitbucket_server"},
			"website_url": {fmt.Sprintf("https://load-%d.example.com", creates.Add(1))},
			"api_url":     {"https://load.example.com/rest/api/1.0"}, "ssh_url": {"ssh://git@load.example.com:7999"},
			"project_key": {"LOAD"}, "access_token": {"load-token"},
		})
	} else {
		res, err = client.Get(base + bc.path)
	}
	if err != nil {
		return false
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode == want
}

// timeToHealthy starts the scmadmin binary on a fresh database and returns how long it took
// from the start to its first 200 on /healthz.
func timeToHealthy(bin string) (time.Duration, error) {
	dir, err := os.MkdirTemp("", "scmbench-start-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "--addr", addr, "--db", filepath.Join(dir, "db"))
	cmd.Env = append(os.Environ(), "SCMADMIN_ADMIN_PASSWORD="+adminPassword)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if err := waitHealthy("http://" + addr); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// waitHealthy polls base's /healthz until it answers 200, for at most 10 s.
func waitHealthy(base string) error {
	client := &http.Client{Timeout: time.Second}
	for start := time.Now(); time.Since(start) < 10*time.Second; time.Sleep(2 * time.Millisecond) {
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
