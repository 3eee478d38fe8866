package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const canarySecret = "tok-PLAINTEXT-CANARY-1234567890"

func githubConfig(clientID string) SCMConfig {
	return SCMConfig{
		Provider:   "github",
		Name:       "GitHub " + clientID,
		WebsiteURL: "https://github.com",
		APIURL:     "https://api.github.com",
		SSHURL:     "ssh://git@github.com:22",
		ClientID:   clientID,
		UniqueKey:  "github|https://github.com|" + clientID,
	}
}

func TestCreateSCMConfig(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	in := SCMConfig{
		ID:         12345, // ignored
		Provider:   "bitbucket_server",
		Name:       "Corp Bitbucket",
		WebsiteURL: "https://bitbucket.corp.example",
		APIURL:     "https://bitbucket.corp.example/rest/api/1.0",
		SSHURL:     "ssh://git@bitbucket.corp.example:7999",
		ProjectKey: "PROJ",
		UniqueKey:  "bitbucket_server|https://bitbucket.corp.example|PROJ",
		Enabled:    false, // ignored: new configurations are enabled
		IsDefault:  true,  // ignored: new configurations are not the default
	}
	before := time.Now().UTC().Add(-time.Second)
	c, err := s.CreateSCMConfig(ctx, in, map[string]string{"access_token": canarySecret}, testActor)
	if err != nil {
		t.Fatalf("CreateSCMConfig: %v", err)
	}
	if c.ID == 0 || c.ID == 1 || c.ID == 12345 {
		t.Errorf("new config id = %d, want a fresh id", c.ID)
	}
	if !c.Enabled {
		t.Error("new configuration is not enabled")
	}
	if c.IsDefault {
		t.Error("new configuration is the default")
	}
	if c.CreatedAt.Before(before) || c.CreatedAt.After(time.Now().Add(time.Second)) || !c.UpdatedAt.Equal(c.CreatedAt) {
		t.Errorf("CreatedAt, UpdatedAt = %v, %v", c.CreatedAt, c.UpdatedAt)
	}

	got, err := s.SCMConfig(ctx, c.ID)
	if err != nil {
		t.Fatalf("SCMConfig: %v", err)
	}
	if c.Ref != strconv.FormatInt(c.ID, 10) {
		t.Errorf("new config's id (Ref) = %q, want its number %d", c.Ref, c.ID)
	}
	want := in
	want.ID, want.Ref, want.Enabled, want.IsDefault = c.ID, c.Ref, true, false
	want.CreatedAt, want.UpdatedAt = c.CreatedAt, c.UpdatedAt
	if !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("times read back %v, %v; want %v", got.CreatedAt, got.UpdatedAt, want.CreatedAt)
	}
	got.CreatedAt, got.UpdatedAt = want.CreatedAt, want.UpdatedAt
	if got != want {
		t.Errorf("SCMConfig read back\n %+v\nwant\n %+v", got, want)
	}
	if got != c {
		t.Errorf("SCMConfig read back %+v, CreateSCMConfig returned %+v", got, c)
	}

	// The built-in configuration is still the only default.
	builtin, err := s.SCMConfig(ctx, 1)
	if err != nil || !builtin.IsDefault {
		t.Errorf("built-in after create = %+v, %v; want still the default", builtin, err)
	}

	second := mustCreateSCM(t, s, githubConfig("abc"), nil)
	if second.ID <= c.ID {
		t.Errorf("second config id %d not after first %d", second.ID, c.ID)
	}
}

func TestSCMConfigUnknown(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	for _, id := range []int64{0, -1, 2, 999999} {
		if c, err := s.SCMConfig(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("SCMConfig(%d) = %+v, %v; want ErrNotFound", id, c, err)
		}
	}
}

func TestSCMConfigByUniqueKey(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	a := mustCreateSCM(t, s, githubConfig("aaa"), nil)
	b := mustCreateSCM(t, s, githubConfig("bbb"), nil)
	for _, want := range []SCMConfig{a, b} {
		got, err := s.SCMConfigByUniqueKey(ctx, want.UniqueKey)
		if err != nil {
			t.Fatalf("SCMConfigByUniqueKey(%q): %v", want.UniqueKey, err)
		}
		if got.ID != want.ID || got.ClientID != want.ClientID {
			t.Errorf("SCMConfigByUniqueKey(%q) = id %d, want %d", want.UniqueKey, got.ID, want.ID)
		}
	}
	for _, key := range []string{"", "github|https://github.com|ccc", "github|https://github.com|", "%", strings.ToUpper(a.UniqueKey)} {
		if c, err := s.SCMConfigByUniqueKey(ctx, key); !errors.Is(err, ErrNotFound) {
			t.Errorf("SCMConfigByUniqueKey(%q) = %+v, %v; want ErrNotFound", key, c, err)
		}
	}
}

func TestSCMSecrets(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	secrets := map[string]string{"client_secret": canarySecret, "webhook_secret": "whsec-987654321"}
	c := mustCreateSCM(t, s, githubConfig("fp"), secrets)

	infos, err := s.SCMSecrets(ctx, c.ID)
	if err != nil {
		t.Fatalf("SCMSecrets: %v", err)
	}
	if len(infos) != len(secrets) {
		t.Fatalf("SCMSecrets returned %d secrets, want %d: %+v", len(infos), len(secrets), infos)
	}
	for name, plain := range secrets {
		info, ok := infos[name]
		if !ok {
			t.Errorf("secret %q missing from SCMSecrets", name)
			continue
		}
		sum := sha256.Sum256([]byte(plain))
		want := hex.EncodeToString(sum[:])[:8]
		if info.Name != name {
			t.Errorf("info.Name = %q, want %q", info.Name, name)
		}
		if info.Fingerprint != want {
			t.Errorf("%s fingerprint = %q, want %q (first 8 hex of sha256)", name, info.Fingerprint, want)
		}
		if info.Fingerprint != Fingerprint(plain) {
			t.Errorf("%s fingerprint = %q, Fingerprint() = %q", name, info.Fingerprint, Fingerprint(plain))
		}
		if !info.SetAt.Equal(c.CreatedAt) {
			t.Errorf("%s SetAt = %v, want the creation time %v", name, info.SetAt, c.CreatedAt)
		}
		if strings.Contains(fmt.Sprintf("%+v", info), plain) {
			t.Errorf("SecretInfo %+v reveals the secret", info)
		}

		keyID, ct := secretRow(t, s, c.ID, name)
		if bytes.Contains(ct, []byte(plain)) {
			t.Errorf("stored ciphertext of %s contains the plaintext", name)
		}
		opened, err := s.keys.Open(keyID, ct, secretAD(c.ID, name))
		if err != nil || string(opened) != plain {
			t.Errorf("stored %s opens to %q, %v; want %q", name, opened, err, plain)
		}
	}

	// Other configurations have none.
	if infos, err := s.SCMSecrets(ctx, 1); err != nil || len(infos) != 0 {
		t.Errorf("SCMSecrets(built-in) = %v, %v; want empty", infos, err)
	}
	if infos, err := s.SCMSecrets(ctx, 424242); err != nil || len(infos) != 0 {
		t.Errorf("SCMSecrets(unknown) = %v, %v; want empty", infos, err)
	}
}

func TestFingerprint(t *testing.T) {
	// sha256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
	if got := Fingerprint("abc"); got != "ba7816bf" {
		t.Errorf("Fingerprint(abc) = %q, want ba7816bf", got)
	}
	// sha256("") = e3b0c442…
	if got := Fingerprint(""); got != "e3b0c442" {
		t.Errorf("Fingerprint(\"\") = %q, want e3b0c442", got)
	}
	sum := sha256.Sum256([]byte(canarySecret))
	if got, want := Fingerprint(canarySecret), hex.EncodeToString(sum[:4]); got != want || len(got) != 8 {
		t.Errorf("Fingerprint(canary) = %q, want %q", got, want)
	}
}

func TestSecretNotStoredInPlaintext(t *testing.T) {
	sqliteOnly(t, "reads the database's files")
	dir := t.TempDir()
	path := filepath.Join(dir, "scmadmin.db")
	keys := newTestKeyring(t, dir)
	ctx := context.Background()
	s, err := Open(ctx, path, keys)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			s.Close()
		}
	})

	const clientID = "CLIENT-ID-VISIBLE-CANARY-555"
	const other = "another-SECRET-canary-0987654321"
	mustCreateSCM(t, s, githubConfig(clientID), map[string]string{"client_secret": canarySecret, "webhook_secret": other})

	check := func(when string) {
		t.Helper()
		var all []byte
		for _, f := range []string{path, path + "-wal"} {
			data, err := os.ReadFile(f)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, secret := range []string{canarySecret, other} {
				if bytes.Contains(data, []byte(secret)) {
					t.Errorf("%s: the plaintext secret %q is in %s", when, secret, filepath.Base(f))
				}
				// Nor in another case, in case it was stored transformed.
				if bytes.Contains(bytes.ToUpper(data), []byte(strings.ToUpper(secret))) {
					t.Errorf("%s: the secret %q (any case) is in %s", when, secret, filepath.Base(f))
				}
			}
			all = append(all, data...)
		}
		// Sanity: the files read are the ones holding the configuration.
		if !bytes.Contains(all, []byte(clientID)) {
			t.Errorf("%s: the non-secret client id is not in the database or WAL file: the check read the wrong files", when)
		}
	}
	check("after create")

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	closed = true
	check("after close (checkpoint)")
}

func TestMovedCiphertextDoesNotOpen(t *testing.T) {
	s := newTestStore(t)
	a := mustCreateSCM(t, s, githubConfig("aaa"), map[string]string{"client_secret": canarySecret, "webhook_secret": "whsec-a"})
	b := mustCreateSCM(t, s, githubConfig("bbb"), map[string]string{"client_secret": "secret-of-b-xyz"})

	// Copy a's client_secret ciphertext into b's row.
	if _, err := s.w.Exec(`UPDATE scm_secrets SET ciphertext = (SELECT ciphertext FROM scm_secrets WHERE config_id = ? AND name = 'client_secret'),
		key_id = (SELECT key_id FROM scm_secrets WHERE config_id = ? AND name = 'client_secret')
		WHERE config_id = ? AND name = 'client_secret'`, a.ID, a.ID, b.ID); err != nil {
		t.Fatal(err)
	}
	keyA, ctA := secretRow(t, s, a.ID, "client_secret")
	keyB, ctB := secretRow(t, s, b.ID, "client_secret")
	if !bytes.Equal(ctA, ctB) || keyA != keyB {
		t.Fatal("the UPDATE did not copy the ciphertext")
	}
	if plain, err := s.keys.Open(keyB, ctB, secretAD(b.ID, "client_secret")); err == nil {
		t.Errorf("a ciphertext moved to config %d's row opened there: %q", b.ID, plain)
	}
	// The original still opens in its own row.
	if plain, err := s.keys.Open(keyA, ctA, secretAD(a.ID, "client_secret")); err != nil || string(plain) != canarySecret {
		t.Errorf("original row: %q, %v", plain, err)
	}

	// Nor does moving it to another field of the same configuration work.
	if _, err := s.w.Exec(`UPDATE scm_secrets SET ciphertext = ? WHERE config_id = ? AND name = 'webhook_secret'`, ctA, a.ID); err != nil {
		t.Fatal(err)
	}
	keyW, ctW := secretRow(t, s, a.ID, "webhook_secret")
	if plain, err := s.keys.Open(keyW, ctW, secretAD(a.ID, "webhook_secret")); err == nil {
		t.Errorf("a ciphertext moved to another field opened there: %q", plain)
	}
}

func TestSecretADDistinguishesRows(t *testing.T) {
	seen := map[string]string{}
	for _, c := range []struct {
		id   int64
		name string
	}{{1, "client_secret"}, {11, "client_secret"}, {1, "1/client_secret"}, {2, "access_token"}, {12, "access_token"}} {
		ad := string(secretAD(c.id, c.name))
		key := fmt.Sprintf("%d %s", c.id, c.name)
		if prev, dup := seen[ad]; dup {
			t.Errorf("secretAD(%s) == secretAD(%s) = %q", key, prev, ad)
		}
		seen[ad] = key
	}
}

func TestCreateSCMConfigDuplicate(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	orig := mustCreateSCM(t, s, githubConfig("dup"), map[string]string{"client_secret": "the-original-secret"})
	configs, secrets := countRows(t, s, "scm_configs"), countRows(t, s, "scm_secrets")

	dup := githubConfig("dup")
	dup.Name = "someone else's"
	c, err := s.CreateSCMConfig(ctx, dup, map[string]string{"client_secret": "a-new-secret", "webhook_secret": "whsec"}, testActor)
	if !errors.Is(err, ErrDuplicate) {
		t.Fatalf("CreateSCMConfig(duplicate unique key) = %+v, %v; want ErrDuplicate", c, err)
	}
	if c != (SCMConfig{}) {
		t.Errorf("a refused create returned %+v", c)
	}
	if n := countRows(t, s, "scm_configs"); n != configs {
		t.Errorf("%d configs after a refused duplicate, want %d", n, configs)
	}
	if n := countRows(t, s, "scm_secrets"); n != secrets {
		t.Errorf("%d secret rows after a refused duplicate, want %d (partial write left behind)", n, secrets)
	}
	got, err := s.SCMConfigByUniqueKey(ctx, orig.UniqueKey)
	if err != nil || got.ID != orig.ID || got.Name != orig.Name {
		t.Errorf("original after the duplicate = %+v, %v", got, err)
	}
	infos, err := s.SCMSecrets(ctx, orig.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || infos["client_secret"].Fingerprint != Fingerprint("the-original-secret") {
		t.Errorf("original's secrets changed by a refused duplicate: %+v", infos)
	}

	// Unique keys are exact: differing only in case is another configuration.
	if _, err := s.CreateSCMConfig(ctx, SCMConfig{Provider: "github", UniqueKey: strings.ToUpper(orig.UniqueKey)}, nil, testActor); err != nil {
		t.Errorf("create with an upper-case variant of a unique key: %v", err)
	}
	// The built-in configuration's key is taken too.
	if _, err := s.CreateSCMConfig(ctx, SCMConfig{Provider: "internal", UniqueKey: "internal"}, nil, testActor); !errors.Is(err, ErrDuplicate) {
		t.Errorf("create a second \"internal\" configuration = %v, want ErrDuplicate", err)
	}
}

func TestCreateSCMConfigConcurrentDuplicates(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	const n = 20
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, n)
		ids   = make([]int64, n)
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			c := githubConfig("race")
			c.Name = fmt.Sprintf("racer %d", i)
			got, err := s.CreateSCMConfig(ctx, c, map[string]string{"client_secret": fmt.Sprintf("secret-%d", i)}, testActor)
			errs[i], ids[i] = err, got.ID
		}()
	}
	close(start)
	wg.Wait()

	ok, dups := 0, 0
	var winner int
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
			winner = i
		case errors.Is(err, ErrDuplicate):
			dups++
		default:
			t.Errorf("goroutine %d: unexpected error %v", i, err)
		}
	}
	if ok != 1 || dups != n-1 {
		t.Fatalf("%d creates succeeded and %d were duplicates, want 1 and %d", ok, dups, n-1)
	}
	c, err := s.SCMConfigByUniqueKey(ctx, githubConfig("race").UniqueKey)
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != ids[winner] || c.Name != fmt.Sprintf("racer %d", winner) {
		t.Errorf("stored config %+v is not the winner's (id %d)", c, ids[winner])
	}
	if got := countRows(t, s, "scm_configs"); got != 2 {
		t.Errorf("%d configs, want 2 (built-in + 1)", got)
	}
	if got := countRows(t, s, "scm_secrets"); got != 1 {
		t.Errorf("%d secret rows, want 1", got)
	}
	infos, err := s.SCMSecrets(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if infos["client_secret"].Fingerprint != Fingerprint(fmt.Sprintf("secret-%d", winner)) {
		t.Errorf("the stored secret is not the winner's")
	}
}

func TestCreateSCMConfigConcurrentDistinct(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.CreateSCMConfig(ctx, githubConfig(fmt.Sprintf("distinct-%d", i)), map[string]string{"client_secret": "x"}, testActor)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent create of distinct configs: %v", err)
		}
	}
	if got := countRows(t, s, "scm_configs"); got != n+1 {
		t.Errorf("%d configs, want %d", got, n+1)
	}
}

// listFixture creates a known set of configurations beside the built-in one (id 1) and
// returns them in creation order.
func listFixture(t *testing.T, s *Store) []SCMConfig {
	t.Helper()
	specs := []SCMConfig{
		{Provider: "github", Name: "Public GitHub", WebsiteURL: "https://github.com", ClientID: "Iv1.GitHubClient"},
		{Provider: "gitlab", Name: "GitLab SaaS", WebsiteURL: "https://gitlab.com", ClientID: "gl-app-0001"},
		{Provider: "bitbucket_server", Name: "Corp Bitbucket", WebsiteURL: "https://bitbucket.corp.example", ProjectKey: "MLPROJ"},
		{Provider: "bitbucket_server_api", Name: "Team Alpha", WebsiteURL: "https://alpha.example.org", ProjectKey: "ALPHA"},
		{Provider: "github_enterprise", Name: "", WebsiteURL: "https://ghe.example.net", ClientID: "ENTERPRISE-ID"},
		{Provider: "bitbucket_cloud", Name: "100% Cloud", WebsiteURL: "https://bitbucket.org", ClientID: "consumerkey"},
		{Provider: "gitlab", Name: "Self-hosted GitLab", WebsiteURL: "https://gitlab.com", ClientID: "under_score"},
	}
	out := make([]SCMConfig, 0, len(specs))
	for i, c := range specs {
		c.UniqueKey = fmt.Sprintf("fixture-%d", i)
		out = append(out, mustCreateSCM(t, s, c, map[string]string{"client_secret": "s"}))
	}
	return out
}

func ids(cs []SCMConfig) []int64 {
	out := make([]int64, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func equalIDs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func listAll(t *testing.T, s *Store, q SCMQuery) ([]SCMConfig, int) {
	t.Helper()
	if q.Limit == 0 {
		q.Limit = 1000
	}
	page, total, err := s.ListSCMConfigs(context.Background(), q)
	if err != nil {
		t.Fatalf("ListSCMConfigs(%+v): %v", q, err)
	}
	return page, total
}

func TestListSCMConfigsTotalAndPaging(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	fx := listFixture(t, s)
	all := append([]int64{1}, ids(fx)...) // by creation (id) ascending

	page, total := listAll(t, s, SCMQuery{})
	if total != len(all) {
		t.Errorf("total = %d, want %d", total, len(all))
	}
	if !equalIDs(ids(page), all) {
		t.Errorf("default order = %v, want creation order %v", ids(page), all)
	}
	for _, c := range page {
		if c.ID == fx[0].ID && (c.Name != "Public GitHub" || c.ClientID != "Iv1.GitHubClient" || !c.Enabled) {
			t.Errorf("listed config does not carry its fields: %+v", c)
		}
	}

	var walked []int64
	for offset := 0; offset < len(all)+3; offset += 3 {
		page, total, err := s.ListSCMConfigs(ctx, SCMQuery{Limit: 3, Offset: offset})
		if err != nil {
			t.Fatal(err)
		}
		if total != len(all) {
			t.Errorf("offset %d: total = %d, want %d (the total must not depend on the page)", offset, total, len(all))
		}
		wantLen := min(3, max(0, len(all)-offset))
		if len(page) != wantLen {
			t.Errorf("offset %d: page has %d rows, want %d", offset, len(page), wantLen)
		}
		walked = append(walked, ids(page)...)
	}
	if !equalIDs(walked, all) {
		t.Errorf("paging by 3 walked %v, want %v (no gaps, no repeats)", walked, all)
	}

	page, total, err := s.ListSCMConfigs(ctx, SCMQuery{Limit: 2, Offset: 100})
	if err != nil || len(page) != 0 || total != len(all) {
		t.Errorf("page past the end = %d rows, total %d, %v; want 0 rows, total %d", len(page), total, err, len(all))
	}

	// Paging a search: the total is that of the search.
	page, total, err = s.ListSCMConfigs(ctx, SCMQuery{Search: "gitlab", Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if total != 2 || len(page) != 1 || page[0].ID != fx[1].ID {
		t.Errorf("search gitlab, limit 1 = %v, total %d; want [%d], total 2", ids(page), total, fx[1].ID)
	}
	page, _, _ = s.ListSCMConfigs(ctx, SCMQuery{Search: "gitlab", Limit: 1, Offset: 1})
	if !equalIDs(ids(page), []int64{fx[6].ID}) {
		t.Errorf("search gitlab, page 2 = %v, want [%d]", ids(page), fx[6].ID)
	}
}

func TestListSCMConfigsSort(t *testing.T) {
	s := newTestStore(t)
	fx := listFixture(t, s)
	builtin, err := s.SCMConfig(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	all := append([]SCMConfig{builtin}, fx...)

	// expected sorts all by key, then id, in the direction asked.
	expected := func(key func(SCMConfig) string, desc bool) []int64 {
		cs := append([]SCMConfig(nil), all...)
		sort.SliceStable(cs, func(i, j int) bool {
			ki, kj := key(cs[i]), key(cs[j])
			if ki != kj {
				return (ki < kj) != desc
			}
			return (cs[i].ID < cs[j].ID) != desc
		})
		return ids(cs)
	}
	byCreated := func(c SCMConfig) string { return "" }
	byProvider := func(c SCMConfig) string { return c.Provider }
	byURL := func(c SCMConfig) string { return c.WebsiteURL }

	cases := []struct {
		sort SCMSort
		key  func(SCMConfig) string
	}{
		{SortCreated, byCreated},
		{"", byCreated},
		{"bogus'; DROP TABLE scm_configs; --", byCreated},
		{SortProvider, byProvider},
		{SortWebsiteURL, byURL},
	}
	for _, c := range cases {
		for _, desc := range []bool{false, true} {
			page, total := listAll(t, s, SCMQuery{Sort: c.sort, Desc: desc})
			want := expected(c.key, desc)
			if total != len(all) {
				t.Errorf("sort %q desc=%v: total %d, want %d", c.sort, desc, total, len(all))
			}
			if !equalIDs(ids(page), want) {
				t.Errorf("sort %q desc=%v: order %v, want %v", c.sort, desc, ids(page), want)
			}
		}
	}

	// Spot checks a user would notice.
	page, _ := listAll(t, s, SCMQuery{Sort: SortProvider})
	if page[0].Provider != "bitbucket_cloud" || page[len(page)-1].Provider != "internal" {
		t.Errorf("by provider asc: first %q, last %q", page[0].Provider, page[len(page)-1].Provider)
	}
	page, _ = listAll(t, s, SCMQuery{Sort: SortWebsiteURL, Desc: true})
	if page[0].WebsiteURL != "https://gitlab.com" || page[0].ID != fx[6].ID || page[1].ID != fx[1].ID {
		t.Errorf("by website_url desc: first two %+v, %+v; want gitlab.com newest first", page[0], page[1])
	}
	page, _ = listAll(t, s, SCMQuery{Sort: SortCreated, Desc: true})
	if page[0].ID != fx[len(fx)-1].ID || page[len(page)-1].ID != 1 {
		t.Errorf("by created desc: %v, want newest first, built-in last", ids(page))
	}
	if countRows(t, s, "scm_configs") != len(all) {
		t.Error("a hostile sort value changed the table")
	}
}

func TestListSCMConfigsSearch(t *testing.T) {
	s := newTestStore(t)
	fx := listFixture(t, s)
	// fx: 0 github, 1 gitlab.com, 2 Corp Bitbucket MLPROJ, 3 Team Alpha ALPHA, 4 ghe ENTERPRISE-ID,
	// 5 "100% Cloud" bitbucket.org, 6 gitlab.com "under_score"
	cases := []struct {
		name   string
		search string
		provs  []string
		want   []int64
	}{
		{"name", "team alpha", nil, []int64{fx[3].ID}},
		{"name upper", "CORP BITBUCKET", nil, []int64{fx[2].ID}},
		{"name part", "hosted", nil, []int64{fx[6].ID}},
		{"website url", "GHE.EXAMPLE", nil, []int64{fx[4].ID}},
		{"website url shared", "GitLab.com", nil, []int64{fx[1].ID, fx[6].ID}},
		{"client id", "iv1.githubclient", nil, []int64{fx[0].ID}},
		{"client id part", "enterprise", nil, []int64{fx[4].ID}},
		{"project key", "mlproj", nil, []int64{fx[2].ID}},
		{"matches several fields", "bitbucket", nil, []int64{fx[2].ID, fx[5].ID}},
		{"no match", "nothing-like-this", nil, nil},
		{"providers also match", "Built-in", []string{"internal"}, []int64{1}},
		{"providers or fields", "alpha", []string{"github_enterprise"}, []int64{fx[3].ID, fx[4].ID}},
		{"several providers", "Bitbucket Server", []string{"bitbucket_server", "bitbucket_server_api"}, []int64{fx[2].ID, fx[3].ID}},
		{"percent is literal", "%", nil, []int64{fx[5].ID}},
		{"percent in context", "100%", nil, []int64{fx[5].ID}},
		{"underscore is literal", "_", nil, []int64{fx[6].ID}},
		{"underscore in context", "r_s", nil, []int64{fx[6].ID}},
		{"underscore not a wildcard", "under-score", nil, nil},
		{"backslash is literal", `\`, nil, nil},
		{"quote is harmless", `'`, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			page, total := listAll(t, s, SCMQuery{Search: c.search, Providers: c.provs})
			if !equalIDs(ids(page), c.want) {
				t.Errorf("search %q providers %v = %v, want %v", c.search, c.provs, ids(page), c.want)
			}
			if total != len(c.want) {
				t.Errorf("search %q: total %d, want %d", c.search, total, len(c.want))
			}
		})
	}
}

func TestListSCMConfigsSearchBackslash(t *testing.T) {
	s := newTestStore(t)
	c := mustCreateSCM(t, s, SCMConfig{Provider: "github", Name: `DOMAIN\team`, UniqueKey: "bs"}, nil)
	mustCreateSCM(t, s, SCMConfig{Provider: "github", Name: `DOMAINteam`, UniqueKey: "nobs"}, nil)
	for _, q := range []string{`\`, `N\t`, `domain\team`} {
		page, total := listAll(t, s, SCMQuery{Search: q})
		if total != 1 || !equalIDs(ids(page), []int64{c.ID}) {
			t.Errorf("search %q = %v (total %d), want [%d]", q, ids(page), total, c.ID)
		}
	}
}

func TestListSCMConfigsSearchWithSortAndPaging(t *testing.T) {
	s := newTestStore(t)
	fx := listFixture(t, s)
	page, total := listAll(t, s, SCMQuery{Search: "bitbucket", Sort: SortWebsiteURL, Desc: true})
	// bitbucket.org (fx5) > bitbucket.corp.example (fx2)
	if total != 2 || !equalIDs(ids(page), []int64{fx[5].ID, fx[2].ID}) {
		t.Errorf("search+sort = %v (total %d), want [%d %d]", ids(page), total, fx[5].ID, fx[2].ID)
	}
}

func TestListSCMConfigsProvidersNeedASearch(t *testing.T) {
	s := newTestStore(t)
	fx := listFixture(t, s)
	// Providers widen a search; without one, everything is listed.
	_, total := listAll(t, s, SCMQuery{Providers: []string{"github"}})
	if total != len(fx)+1 {
		t.Errorf("Providers without Search: total %d, want all %d", total, len(fx)+1)
	}
}

func TestListSCMConfigsSearchNonASCIICaseInsensitive(t *testing.T) {
	s := newTestStore(t)
	c := mustCreateSCM(t, s, SCMConfig{Provider: "gitlab", Name: "Équipe Données", WebsiteURL: "https://gitlab.example.fr", UniqueKey: "fr"}, nil)
	page, _ := listAll(t, s, SCMQuery{Search: "Équipe"})
	if !equalIDs(ids(page), []int64{c.ID}) {
		t.Fatalf("exact-case non-ASCII search = %v, want [%d]", ids(page), c.ID)
	}
	page, _ = listAll(t, s, SCMQuery{Search: "équipe données"})
	if !equalIDs(ids(page), []int64{c.ID}) {
		t.Errorf("search %q = %v, want [%d]: case-insensitive in any script", "équipe données", ids(page), c.ID)
	}
}

// A configuration's id (Ref): a vanity id when one is given, never one that another
// configuration has or had, and the built-in one's is "internal".
func TestConfigIDsAreNeverReused(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	builtIn, err := s.SCMConfigByRef(ctx, BuiltInRef)
	if err != nil || builtIn.ID != BuiltInID {
		t.Fatalf("built-in by its id %q: %+v, %v", BuiltInRef, builtIn, err)
	}
	cfg := func(host string) SCMConfig {
		return SCMConfig{Provider: "bitbucket_server", WebsiteURL: "https://" + host, ProjectKey: "ALGO",
			UniqueKey: "bitbucket_server https://" + host + " ALGO"}
	}
	vanity := cfg("one.example.com")
	vanity.Ref = "bb-algo"
	created, err := s.CreateSCMConfig(ctx, vanity, nil, testActor)
	if err != nil || created.Ref != "bb-algo" {
		t.Fatalf("create with a vanity id: %+v, %v", created, err)
	}
	if got, err := s.SCMConfigByRef(ctx, "bb-algo"); err != nil || got.ID != created.ID {
		t.Errorf("by its vanity id: %+v, %v", got, err)
	}
	again := cfg("two.example.com")
	again.Ref = "bb-algo"
	if _, err := s.CreateSCMConfig(ctx, again, nil, testActor); !errors.Is(err, ErrIDTaken) {
		t.Errorf("a second configuration with id bb-algo: %v, want ErrIDTaken", err)
	}
	if err := s.SetEnabled(ctx, created.ID, false, testActor); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSCMConfig(ctx, created.ID, testActor); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateSCMConfig(ctx, again, nil, testActor); !errors.Is(err, ErrIDTaken) {
		t.Errorf("reusing the id of a deleted configuration: %v, want ErrIDTaken", err)
	}
	if _, err := s.SCMConfigByRef(ctx, "bb-algo"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a deleted configuration's id: %v, want ErrNotFound", err)
	}
}
