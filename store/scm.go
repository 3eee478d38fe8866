package store

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// SCMConfig is one registered source code host. Which fields a provider uses is the provider
// catalog's business; the store keeps them all.
type SCMConfig struct {
	// ID is the key other tables refer to it by; Ref is its id as the pages, the routes and
	// the API name it.
	ID         int64
	Ref        string
	Provider   string
	Name       string
	WebsiteURL string
	APIURL     string
	SSHURL     string
	ClientID   string
	ProjectKey string
	// UniqueKey is the catalog's identity of the configuration; two configurations never share one.
	UniqueKey string
	Enabled   bool
	IsDefault bool
	CreatedAt time.Time
	UpdatedAt time.Time
	LastTest  ConnectionTest
	// Repositories is how many algorithm repositories it hosts.
	Repositories int
	// OAuthCheck is the last OAuth round trip through it (OAuth providers).
	OAuthCheck OAuthCheck
	// ManagedBy is the absolute path of the configuration file that manages it (see
	// CanChange), "" when the pages and the API do.
	ManagedBy string
}

// OAuthCheck is the outcome of the last OAuth round trip through a configuration.
type OAuthCheck struct {
	At     time.Time // zero when none
	OK     bool
	Detail string // who connected, or what the host said
	// Credentials fingerprints the client and host it ran with (OAuthCredentials): a
	// round trip proves only those.
	Credentials string
}

// OAuthCredentials fingerprints c's OAuth client as a round trip proves it: its ID and
// secret, at its host (Website and API URLs).
func OAuthCredentials(c SCMConfig, secret string) string {
	return Fingerprint(strings.Join([]string{c.WebsiteURL, c.APIURL, c.ClientID, secret}, "\n"))
}

// ConnectionTest is the outcome of a configuration's last connection test.
type ConnectionTest struct {
	At      time.Time // zero when never tested
	Passed  bool
	Warned  bool   // it passed, but a step warned: "Passed with warnings"
	Summary string // "passed", or the first step that failed
	// FailingSince is when the current run of failed tests began; zero while it passes.
	FailingSince time.Time
}

// The form fields a configuration keeps, by the names the forms, the API and the audit trail
// use. Those of columns are its columns' names too; the secrets are sealed in scm_secrets.
const (
	FieldName         = "name"
	FieldWebsiteURL   = "website_url"
	FieldAPIURL       = "api_url"
	FieldSSHURL       = "ssh_url"
	FieldClientID     = "client_id"
	FieldProjectKey   = "project_key"
	FieldClientSecret = "client_secret"
	FieldAccessToken  = "access_token"
	// FieldManagedBy is the audit trail's name for the file that manages a configuration.
	FieldManagedBy = "managed_by"
)

// columns are the configuration's column-backed fields, in form order: the columns read and
// written, the audit diff, a form's values and a connection test's target all come from it.
var columns = []struct {
	field string
	of    func(*SCMConfig) *string
}{
	{FieldName, func(c *SCMConfig) *string { return &c.Name }},
	{FieldWebsiteURL, func(c *SCMConfig) *string { return &c.WebsiteURL }},
	{FieldAPIURL, func(c *SCMConfig) *string { return &c.APIURL }},
	{FieldSSHURL, func(c *SCMConfig) *string { return &c.SSHURL }},
	{FieldClientID, func(c *SCMConfig) *string { return &c.ClientID }},
	{FieldProjectKey, func(c *SCMConfig) *string { return &c.ProjectKey }},
}

// Column returns c's column of the field name, or nil when name is not a column-backed field
// (a secret, say).
func (c *SCMConfig) Column(name string) *string {
	for _, col := range columns {
		if col.field == name {
			return col.of(c)
		}
	}
	return nil
}

// Value returns c's value of the column-backed field name, "" for any other.
func (c SCMConfig) Value(name string) string {
	if col := c.Column(name); col != nil {
		return *col
	}
	return ""
}

// Values returns c's non-empty column-backed values by field name.
func (c SCMConfig) Values() map[string]string {
	v := map[string]string{}
	for _, col := range columns {
		if val := *col.of(&c); val != "" {
			v[col.field] = val
		}
	}
	return v
}

// DisplayName is how the configuration is named: its name, else its Website URL's host and
// its ID column (the project key or the client id), so that two projects on one host read
// apart: "bitbucket.example.com · ALGO".
func (c SCMConfig) DisplayName() string {
	switch {
	case c.Name != "":
		return c.Name
	case c.WebsiteURL == "":
		return "Built-in"
	}
	host := c.WebsiteURL
	if u, err := url.Parse(c.WebsiteURL); err == nil && u.Host != "" {
		host = u.Host
	}
	if id := cmp.Or(c.ProjectKey, c.ClientID); id != "" {
		return host + " · " + id
	}
	return host
}

// Diff lists what changes from old to c, secrets (by field name) included as "changed",
// and the file that manages it.
func (c SCMConfig) Diff(old SCMConfig, secrets map[string]string) []Change {
	var changes []Change
	for _, col := range columns {
		if from, to := *col.of(&old), *col.of(&c); from != to {
			changes = append(changes, Change{Field: col.field, From: from, To: to})
		}
	}
	if old.ManagedBy != c.ManagedBy {
		changes = append(changes, Change{Field: FieldManagedBy, From: old.ManagedBy, To: c.ManagedBy})
	}
	names := make([]string, 0, len(secrets))
	for name := range secrets {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		changes = append(changes, Change{Field: name, To: SecretChanged})
	}
	return changes
}

// SecretInfo describes a stored secret without revealing it.
type SecretInfo struct {
	Name string
	// Fingerprint is the first 8 hex digits of the secret's SHA-256: enough to tell two apart.
	Fingerprint string
	SetAt       time.Time
}

// columnList is "name, website_url, …": the column-backed fields as SQL names them.
var columnList = func() string {
	names := make([]string, len(columns))
	for i, col := range columns {
		names[i] = col.field
	}
	return strings.Join(names, ", ")
}()

// scmColumns is what every read of a configuration selects, in scanSCM's order.
var scmColumns = `id, ref, provider, ` + columnList + `, unique_key, enabled, is_default, created_at, updated_at,
	last_test_at, last_test_passed, last_test_summary, last_test_warned, failing_since,
	(SELECT count(*) FROM repositories r WHERE r.config_id = scm_configs.id),
	oauth_checked_at, oauth_check_ok, oauth_check_detail, oauth_check_credentials, managed_by`

func scanSCM(row interface{ Scan(...any) error }) (SCMConfig, error) {
	var c SCMConfig
	var tested, failing, oauthChecked sql.NullTime
	dest := []any{&c.ID, &c.Ref, &c.Provider}
	for _, col := range columns {
		dest = append(dest, col.of(&c))
	}
	dest = append(dest, &c.UniqueKey, &c.Enabled, &c.IsDefault, &c.CreatedAt, &c.UpdatedAt,
		&tested, &c.LastTest.Passed, &c.LastTest.Summary, &c.LastTest.Warned, &failing, &c.Repositories,
		&oauthChecked, &c.OAuthCheck.OK, &c.OAuthCheck.Detail, &c.OAuthCheck.Credentials, &c.ManagedBy)
	err := row.Scan(dest...)
	c.LastTest.At, c.LastTest.FailingSince, c.OAuthCheck.At = tested.Time, failing.Time, oauthChecked.Time
	return c, err
}

// columnValues are c's column-backed values in columnList's order.
func (c *SCMConfig) columnValues() []any {
	vals := make([]any, len(columns))
	for i, col := range columns {
		vals[i] = *col.of(c)
	}
	return vals
}

// secretAD is the additional data that binds a secret's ciphertext to its row and field.
func secretAD(configID int64, name string) []byte {
	return fmt.Appendf(nil, "scm_configs/%d/%s", configID, name)
}

// Fingerprint returns the first 8 hex digits of the SHA-256 of secret.
func Fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:4])
}

// searchText is what the list's search matches a configuration by.
func searchText(c SCMConfig) string {
	return strings.ToLower(strings.Join([]string{c.Name, c.WebsiteURL, c.ClientID, c.ProjectKey}, "\n"))
}

// placeholders returns n comma-separated "?".
func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

// CreateSCMConfig stores a new, enabled configuration and its secrets
// (field name → plain text), which are sealed before they are written. Its id is c.Ref when
// given (a vanity id), else its number. ErrDuplicate when c.UniqueKey is taken, ErrIDTaken
// when c.Ref is or was another's.
func (s *Store) CreateSCMConfig(ctx context.Context, c SCMConfig, secrets map[string]string, by Actor) (SCMConfig, error) {
	var created SCMConfig
	err := s.inTx(ctx, func(tx *wtx) error {
		var err error
		created, err = s.createTx(ctx, tx, c, secrets, by)
		return err
	})
	if err != nil {
		return SCMConfig{}, createError(c, err)
	}
	return created, nil
}

// createError is err of creating c, with the sentinel that says why.
func createError(c SCMConfig, err error) error {
	switch {
	case errors.Is(err, ErrIDTaken):
		return fmt.Errorf("store: create scm config %q: %w", c.Ref, ErrIDTaken)
	case isUnique(err):
		return fmt.Errorf("store: create scm config: %w", ErrDuplicate)
	}
	return fmt.Errorf("store: create scm config: %w", err)
}

// createTx is CreateSCMConfig within tx.
func (s *Store) createTx(ctx context.Context, tx *wtx, c SCMConfig, secrets map[string]string, by Actor) (SCMConfig, error) {
	now := s.now()
	c.Enabled, c.IsDefault, c.CreatedAt, c.UpdatedAt = true, false, now, now
	if c.Ref != "" {
		if _, err := tx.ExecContext(ctx, `INSERT INTO scm_refs (ref) VALUES (?)`, c.Ref); isUnique(err) {
			return c, ErrIDTaken
		} else if err != nil {
			return c, err
		}
	}
	args := append(append([]any{c.Provider}, c.columnValues()...), c.UniqueKey, searchText(c), now, now, c.ManagedBy)
	err := tx.QueryRowContext(ctx, `INSERT INTO scm_configs (provider, `+columnList+`, unique_key, search_text,
		  enabled, is_default, created_at, updated_at, managed_by) VALUES (?, `+placeholders(len(columns))+`, ?, ?, 1, 0, ?, ?, ?) RETURNING id`,
		args...).Scan(&c.ID)
	if err != nil {
		return c, err
	}
	if c.Ref == "" {
		// A number is never taken: ids grow (AUTOINCREMENT) and vanity ids hold a letter.
		c.Ref = strconv.FormatInt(c.ID, 10)
		if _, err := tx.ExecContext(ctx, `INSERT INTO scm_refs (ref) VALUES (?)`, c.Ref); err != nil {
			return c, err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE scm_configs SET ref = ? WHERE id = ?`, c.Ref, c.ID); err != nil {
		return c, err
	}
	if err := s.putSecrets(ctx, tx, c.ID, secrets, now); err != nil {
		return c, err
	}
	return c, s.audit(ctx, tx, configEvent(by, ActionCreate, c, c.Diff(SCMConfig{}, secrets)))
}

// putSecrets seals and stores secrets (field name → plain text), replacing those of the same name.
func (s *Store) putSecrets(ctx context.Context, tx *wtx, configID int64, secrets map[string]string, now time.Time) error {
	for name, plain := range secrets {
		keyID, sealed := s.keys.Seal([]byte(plain), secretAD(configID, name))
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO scm_secrets (config_id, name, key_id, ciphertext, fingerprint, set_at) VALUES (?, ?, ?, ?, ?, ?)
			 ON CONFLICT (config_id, name) DO UPDATE SET key_id = excluded.key_id, ciphertext = excluded.ciphertext,
			   fingerprint = excluded.fingerprint, set_at = excluded.set_at`,
			configID, name, keyID, sealed, Fingerprint(plain), now); err != nil {
			return err
		}
	}
	return nil
}

// SCMConfig returns the configuration with id, or ErrNotFound.
func (s *Store) SCMConfig(ctx context.Context, id int64) (SCMConfig, error) {
	return s.scmConfig(ctx, rowQuerier(s.queryRow), id)
}

// queryRower is a transaction, or the readers through their prepared statements.
type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// rowQuerier makes Store.queryRow a queryRower.
type rowQuerier func(ctx context.Context, query string, args ...any) *sql.Row

func (f rowQuerier) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return f(ctx, query, args...)
}

func (s *Store) scmConfig(ctx context.Context, db queryRower, id int64) (SCMConfig, error) {
	c, err := scanSCM(db.QueryRowContext(ctx, `SELECT `+scmColumns+` FROM scm_configs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return SCMConfig{}, fmt.Errorf("store: scm config %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return SCMConfig{}, fmt.Errorf("store: scm config %d: %w", id, err)
	}
	return c, nil
}

// SCMConfigByRef returns the configuration whose id is ref, or ErrNotFound.
func (s *Store) SCMConfigByRef(ctx context.Context, ref string) (SCMConfig, error) {
	return s.scmConfigByRef(ctx, rowQuerier(s.queryRow), ref)
}

func (s *Store) scmConfigByRef(ctx context.Context, db queryRower, ref string) (SCMConfig, error) {
	c, err := scanSCM(db.QueryRowContext(ctx, `SELECT `+scmColumns+` FROM scm_configs WHERE ref = ?`, ref))
	if errors.Is(err, sql.ErrNoRows) {
		return SCMConfig{}, fmt.Errorf("store: scm config %q: %w", ref, ErrNotFound)
	}
	if err != nil {
		return SCMConfig{}, fmt.Errorf("store: scm config %q: %w", ref, err)
	}
	return c, nil
}

// SCMConfigByUniqueKey returns the configuration whose unique key is key, or ErrNotFound.
func (s *Store) SCMConfigByUniqueKey(ctx context.Context, key string) (SCMConfig, error) {
	c, err := scanSCM(s.queryRow(ctx, `SELECT `+scmColumns+` FROM scm_configs WHERE unique_key = ?`, key))
	if errors.Is(err, sql.ErrNoRows) {
		return SCMConfig{}, fmt.Errorf("store: scm config by key: %w", ErrNotFound)
	}
	if err != nil {
		return SCMConfig{}, fmt.Errorf("store: scm config by key: %w", err)
	}
	return c, nil
}

// SCMSecrets describes the secrets stored for a configuration, by field name.
func (s *Store) SCMSecrets(ctx context.Context, configID int64) (map[string]SecretInfo, error) {
	rows, err := s.query(ctx, `SELECT name, fingerprint, set_at FROM scm_secrets WHERE config_id = ?`, configID)
	if err != nil {
		return nil, fmt.Errorf("store: scm secrets %d: %w", configID, err)
	}
	defer rows.Close()
	infos := map[string]SecretInfo{}
	for rows.Next() {
		var si SecretInfo
		if err := rows.Scan(&si.Name, &si.Fingerprint, &si.SetAt); err != nil {
			return nil, fmt.Errorf("store: scm secrets %d: %w", configID, err)
		}
		infos[si.Name] = si
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: scm secrets %d: %w", configID, err)
	}
	return infos, nil
}

// OpenSecrets returns a configuration's secrets in plain text, by field name, for the
// connection test and the calls made to the host. Never render or log them.
func (s *Store) OpenSecrets(ctx context.Context, configID int64) (map[string]string, error) {
	rows, err := s.query(ctx, `SELECT name, key_id, ciphertext FROM scm_secrets WHERE config_id = ?`, configID)
	if err != nil {
		return nil, fmt.Errorf("store: open secrets of %d: %w", configID, err)
	}
	defer rows.Close()
	secrets := map[string]string{}
	for rows.Next() {
		var name string
		var keyID uint32
		var sealed []byte
		if err := rows.Scan(&name, &keyID, &sealed); err != nil {
			return nil, fmt.Errorf("store: open secrets of %d: %w", configID, err)
		}
		plain, err := s.keys.Open(keyID, sealed, secretAD(configID, name))
		if err != nil {
			return nil, fmt.Errorf("store: open secret %s of %d: %w", name, configID, err)
		}
		secrets[name] = string(plain)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: open secrets of %d: %w", configID, err)
	}
	return secrets, nil
}

// SCMSort names an order of the configuration list.
type SCMSort string

// The orders the list can be sorted by.
const (
	SortCreated    SCMSort = "created"
	SortProvider   SCMSort = "provider"
	SortWebsiteURL SCMSort = "website_url"
)

// SCMQuery selects a page of the configuration list.
type SCMQuery struct {
	// Search matches, case-insensitively in any script, part of the name, Website URL, client
	// id or project key.
	Search string
	// Providers also match the search: the ids of providers whose label contains it.
	Providers []string
	// ProviderOrder is every provider id in the order SortProvider lists them (their labels'
	// order), which the store cannot know.
	ProviderOrder []string
	// SearchDisabled and SearchDefault: the search also matches the disabled configurations,
	// the default one (the search is a word of their badge).
	SearchDisabled, SearchDefault bool
	// Provider, Enabled and Health filter: only that provider; only enabled (true) or
	// disabled (false) ones; only those whose last connection test is so.
	Provider string
	Enabled  *bool
	Health   Health
	Sort     SCMSort
	Desc     bool
	Limit    int
	Offset   int
	// CountAtMost, when not 0, stops the count of a search or filter past it: the total is
	// then CountAtMost+1, meaning "more". Counting every match of a broad search costs more
	// than finding the page.
	CountAtMost int
}

// Health is a configuration's last connection test in a word, for the list's filter.
type Health string

// The healths the list filters by.
const (
	HealthAny      Health = ""
	HealthPassed   Health = "passed"
	HealthWarning  Health = "warning"
	HealthFailing  Health = "failing"
	HealthUntested Health = "untested"
)

// healthConds are the SQL conditions of each Health.
var healthConds = map[Health]string{
	HealthPassed:   `last_test_at IS NOT NULL AND last_test_passed = 1 AND last_test_warned = 0`,
	HealthWarning:  `last_test_at IS NOT NULL AND last_test_passed = 1 AND last_test_warned = 1`,
	HealthFailing:  `last_test_at IS NOT NULL AND last_test_passed = 0`,
	HealthUntested: `last_test_at IS NULL`,
}

// broadSearch says whether search is broad (see dialect.shortSearch).
func (s *Store) broadSearch(ctx context.Context, search string) (bool, error) {
	if s.d.broadProbe == "" || utf8.RuneCountInString(search) < 3 { // a short one is read in order anyway
		return false, nil
	}
	var n int
	if err := s.queryRow(ctx, s.d.broadProbe, s.d.searchPattern(strings.ToLower(search))).Scan(&n); err != nil {
		return false, fmt.Errorf("store: probe the search: %w", err)
	}
	return n >= broadMatches, nil
}

// where is q's WHERE clause ("" for every configuration) and its arguments; broad says the
// search is broad (broadSearch).
func (q SCMQuery) where(d *dialect, broad bool) (string, []any) {
	var conds []string
	var args []any
	if q.Search != "" {
		search := []string{d.search}
		if d.shortSearch != "" && (broad || utf8.RuneCountInString(q.Search) < 3) {
			search[0] = d.shortSearch
		}
		args = append(args, d.searchPattern(strings.ToLower(q.Search)))
		if len(q.Providers) > 0 {
			search = append(search, `provider IN (`+placeholders(len(q.Providers))+`)`)
			for _, p := range q.Providers {
				args = append(args, p)
			}
		}
		if q.SearchDisabled {
			search = append(search, `enabled = 0`)
		}
		if q.SearchDefault {
			search = append(search, `is_default = 1`)
		}
		conds = append(conds, "("+strings.Join(search, " OR ")+")")
	}
	if q.Provider != "" {
		conds, args = append(conds, `provider = ?`), append(args, q.Provider)
	}
	if q.Enabled != nil {
		conds, args = append(conds, `enabled = ?`), append(args, *q.Enabled)
	}
	if c, ok := healthConds[q.Health]; ok {
		conds = append(conds, "("+c+")")
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// ListSCMConfigs returns one page of configurations and how many match in all.
func (s *Store) ListSCMConfigs(ctx context.Context, q SCMQuery) (page []SCMConfig, total int, err error) {
	broad, err := s.broadSearch(ctx, q.Search)
	if err != nil {
		return nil, 0, err
	}
	where, args := q.where(s.d, broad)
	countQuery, countArgs := `SELECT count(*) FROM scm_configs`+where, args
	switch {
	case where == "":
		countQuery = `SELECT n FROM scm_config_count`
	case q.CountAtMost > 0:
		countQuery = `SELECT count(*) FROM (SELECT 1 FROM scm_configs` + where + ` LIMIT ?) matches`
		countArgs = append(slices.Clip(args), q.CountAtMost+1)
	}
	if err := s.queryRow(ctx, countQuery, countArgs...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: count scm configs: %w", err)
	}
	order, orderArgs := q.orderBy(s.d)
	// The page's ids come from the sort order's index alone; only those rows are read whole,
	// so a late page does not decode every row before it.
	args = append(append(append(args, orderArgs...), q.Limit, q.Offset), orderArgs...)
	rows, err := s.query(ctx, `SELECT `+scmColumns+` FROM scm_configs WHERE id IN (SELECT id FROM scm_configs`+
		where+` ORDER BY `+order+` LIMIT ? OFFSET ?) ORDER BY `+order, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list scm configs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		c, err := scanSCM(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("store: list scm configs: %w", err)
		}
		page = append(page, c)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("store: list scm configs: %w", err)
	}
	return page, total, nil
}

// SCMConfigsAfter returns at most limit configurations created after the one with key
// after (0: from the first), in the order they were created.
func (s *Store) SCMConfigsAfter(ctx context.Context, after int64, limit int) ([]SCMConfig, error) {
	rows, err := s.query(ctx, `SELECT `+scmColumns+` FROM scm_configs WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: scm configs after %d: %w", after, err)
	}
	defer rows.Close()
	var page []SCMConfig
	for rows.Next() {
		c, err := scanSCM(rows)
		if err != nil {
			return nil, fmt.Errorf("store: scm configs after %d: %w", after, err)
		}
		page = append(page, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: scm configs after %d: %w", after, err)
	}
	return page, nil
}

// orderBy is the ORDER BY clause of q's sort, with its arguments.
func (q SCMQuery) orderBy(d *dialect) (string, []any) {
	dir := " ASC"
	if q.Desc {
		dir = " DESC"
	}
	switch {
	case q.Sort == SortProvider && len(q.ProviderOrder) > 0:
		// The labels' order, which the store cannot know: where the provider stands in
		// " id1 id2 … ", a position that grows with its place in ProviderOrder.
		return d.position + dir + ", id" + dir, []any{" " + strings.Join(q.ProviderOrder, " ") + " "}
	case q.Sort == SortProvider:
		return "provider" + dir + ", id" + dir, nil
	case q.Sort == SortWebsiteURL:
		return "website_url" + dir + ", id" + dir, nil
	}
	return "id" + dir, nil
}
