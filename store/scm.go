package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// SCMConfig is one registered source code host. Which fields a provider uses is the provider
// catalog's business; the store keeps them all.
type SCMConfig struct {
	ID         int64
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
}

// ConnectionTest is the outcome of a configuration's last connection test.
type ConnectionTest struct {
	At      time.Time // zero when never tested
	Passed  bool
	Summary string // "passed", or the first step that failed
}

// DisplayName is how the configuration is named: its name, else its Website URL.
func (c SCMConfig) DisplayName() string {
	switch {
	case c.Name != "":
		return c.Name
	case c.WebsiteURL == "":
		return "Built-in"
	}
	return c.WebsiteURL
}

// fields are the configuration's values by form field name, as the audit trail names them.
func (c SCMConfig) fields() [][2]string {
	return [][2]string{{"name", c.Name}, {"website_url", c.WebsiteURL}, {"api_url", c.APIURL}, {"ssh_url", c.SSHURL},
		{"client_id", c.ClientID}, {"project_key", c.ProjectKey}}
}

// diff lists what changes from old to c, secrets (by field name) included as "changed".
func (c SCMConfig) diff(old SCMConfig, secrets map[string]string) []Change {
	var changes []Change
	was := old.fields()
	for i, f := range c.fields() {
		if f[1] != was[i][1] {
			changes = append(changes, Change{Field: f[0], From: was[i][1], To: f[1]})
		}
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

const scmColumns = `id, provider, name, website_url, api_url, ssh_url, client_id, project_key, unique_key,
	enabled, is_default, created_at, updated_at, last_test_at, last_test_passed, last_test_summary`

func scanSCM(row interface{ Scan(...any) error }) (SCMConfig, error) {
	var c SCMConfig
	var tested sql.NullTime
	err := row.Scan(&c.ID, &c.Provider, &c.Name, &c.WebsiteURL, &c.APIURL, &c.SSHURL, &c.ClientID, &c.ProjectKey,
		&c.UniqueKey, &c.Enabled, &c.IsDefault, &c.CreatedAt, &c.UpdatedAt, &tested, &c.LastTest.Passed, &c.LastTest.Summary)
	c.LastTest.At = tested.Time
	return c, err
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

// CreateSCMConfig stores a new, enabled configuration and its secrets (field name → plain
// text), which are encrypted before they are written. ErrDuplicate when c.UniqueKey is taken.
func (s *Store) CreateSCMConfig(ctx context.Context, c SCMConfig, secrets map[string]string, by Actor) (SCMConfig, error) {
	now := s.now()
	c.Enabled, c.IsDefault, c.CreatedAt, c.UpdatedAt = true, false, now, now
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx,
			`INSERT INTO scm_configs (provider, name, website_url, api_url, ssh_url, client_id, project_key, unique_key,
			  search_text, enabled, is_default, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 0, ?, ?) RETURNING id`,
			c.Provider, c.Name, c.WebsiteURL, c.APIURL, c.SSHURL, c.ClientID, c.ProjectKey, c.UniqueKey, searchText(c), now, now).Scan(&c.ID)
		if err != nil {
			return err
		}
		if err := s.putSecrets(ctx, tx, c.ID, secrets, now); err != nil {
			return err
		}
		return s.audit(ctx, tx, configEvent(by, ActionCreate, c, c.diff(SCMConfig{}, secrets)))
	})
	if isUnique(err) {
		return SCMConfig{}, fmt.Errorf("store: create scm config: %w", ErrDuplicate)
	}
	if err != nil {
		return SCMConfig{}, fmt.Errorf("store: create scm config: %w", err)
	}
	return c, nil
}

// putSecrets seals and stores secrets (field name → plain text), replacing those of the same name.
func (s *Store) putSecrets(ctx context.Context, tx *sql.Tx, configID int64, secrets map[string]string, now time.Time) error {
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

// RecordConnectionTest keeps t as configuration id's last connection test.
func (s *Store) RecordConnectionTest(ctx context.Context, id int64, t ConnectionTest) error {
	_, err := s.exec(ctx,
		`UPDATE scm_configs SET last_test_at = ?, last_test_passed = ?, last_test_summary = ? WHERE id = ?`,
		t.At.UTC(), t.Passed, t.Summary, id)
	if err != nil {
		return fmt.Errorf("store: record connection test of %d: %w", id, err)
	}
	return nil
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
	Sort          SCMSort
	Desc          bool
	Limit         int
	Offset        int
}

// ListSCMConfigs returns one page of configurations and how many match in all.
func (s *Store) ListSCMConfigs(ctx context.Context, q SCMQuery) (page []SCMConfig, total int, err error) {
	var where string
	var args []any
	if q.Search != "" {
		// The trigram index answers GLOB over the lower-cased text (and LIKE, but not with ESCAPE).
		conds := []string{`id IN (SELECT rowid FROM scm_search WHERE search_text GLOB ?)`}
		args = append(args, "*"+escapeGlob(strings.ToLower(q.Search))+"*")
		if len(q.Providers) > 0 {
			conds = append(conds, `provider IN (`+strings.TrimSuffix(strings.Repeat("?, ", len(q.Providers)), ", ")+`)`)
			for _, p := range q.Providers {
				args = append(args, p)
			}
		}
		where = " WHERE " + strings.Join(conds, " OR ")
	}
	countQuery := `SELECT count(*) FROM scm_configs` + where
	if where == "" {
		countQuery = `SELECT n FROM scm_config_count`
	}
	if err := s.queryRow(ctx, countQuery, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: count scm configs: %w", err)
	}
	dir := " ASC"
	if q.Desc {
		dir = " DESC"
	}
	order := "id" + dir
	switch q.Sort {
	case SortProvider:
		rank := "provider"
		if len(q.ProviderOrder) > 0 {
			rank = "CASE provider"
			for i, id := range q.ProviderOrder {
				rank += fmt.Sprintf(" WHEN '%s' THEN %d", strings.ReplaceAll(id, "'", "''"), i)
			}
			rank += " END"
		}
		order = rank + dir + ", id" + dir
	case SortWebsiteURL:
		order = "website_url" + dir + ", id" + dir
	}
	// The page's ids come from the sort order's index alone; only those rows are read whole,
	// so a late page does not decode every row before it.
	rows, err := s.query(ctx, `SELECT `+scmColumns+` FROM scm_configs WHERE id IN (SELECT id FROM scm_configs`+
		where+` ORDER BY `+order+` LIMIT ? OFFSET ?) ORDER BY `+order, append(args, q.Limit, q.Offset)...)
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

// escapeGlob makes s match itself literally inside a GLOB pattern.
func escapeGlob(s string) string {
	return strings.NewReplacer(`*`, `[*]`, `?`, `[?]`, `[`, `[[]`).Replace(s)
}
