package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
	"unicode/utf8"
)

// Delivery results.
const (
	DeliveryAccepted  = "accepted"
	DeliveryDuplicate = "duplicate"
	DeliveryIgnored   = "ignored"
	DeliveryRefused   = "refused"
)

// Secret names of the webhook: the current one, and those it replaced, each still accepted
// for WebhookGrace after it was replaced (its set_at is that time): the previous one, and the
// one before it when it was replaced within the previous one's grace (two rotations in a row
// must not cut off the secret the host still signs with).
const (
	WebhookSecret         = "webhook_secret"
	WebhookSecretPrevious = "webhook_secret_previous"
	WebhookSecretOlder    = "webhook_secret_older"
	WebhookGrace          = 24 * time.Hour
)

// KeptDeliveries is how many of its latest deliveries each configuration keeps at least;
// KeptBuilds, how many of its latest builds. Each keeps about pruneOneIn more (see pruneHistories).
const (
	KeptDeliveries = 1000
	KeptBuilds     = 10_000
)

// What a push says of itself is kept at most this long: a signed body can still say anything.
const (
	maxSlugLen   = 128
	maxActorLen  = 255
	maxCommitLen = 64
)

// Delivery is one webhook delivery that reached a configuration.
type Delivery struct {
	ID         int64
	ConfigID   int64
	RequestID  string
	Event      string
	Result     string
	Status     int
	Reason     string
	ReceivedAt time.Time
}

// What starts a build (Build.Trigger).
const (
	TriggerPush = "push"
	TriggerAPI  = "api"
)

// Build is one build a push or an API call started, of a registered repository.
type Build struct {
	ID        int64
	ConfigID  int64
	RequestID string // the delivery's id; "" for a build the platform asked for
	// ProjectKey holds the repository on the host, as its Owner (the Bitbucket project key,
	// or the account, organisation, group or workspace); Repository is its name.
	ProjectKey string
	Repository string
	Commit     string
	Actor      string
	Trigger    string // TriggerPush (the default) or TriggerAPI
	PushedAt   time.Time
	CreatedAt  time.Time
	// Seq is the build's place in the builds feed (BuildsAfter); ConfigRef its
	// configuration's id as the pages and the API name it (filled by BuildsAfter).
	Seq       int64
	ConfigRef string
}

// ErrNotRegistered refuses a build of a repository that is not one of the configuration's
// registered algorithm repositories.
var ErrNotRegistered = errors.New("not an algorithm repository")

// RecordDelivery records d and, when b is not nil, the build it starts, in one transaction.
// A push builds once per (configuration, repository, commit): a build seen before, under this
// request id or any other, is not recorded again, and d's result becomes DeliveryDuplicate.
// A push to a repository that is not registered for the configuration starts none, and d's
// result becomes DeliveryIgnored. It returns d as recorded.
func (s *Store) RecordDelivery(ctx context.Context, d Delivery, b *Build) (Delivery, error) {
	now := s.now()
	d.ReceivedAt = now
	given := d
	built := false
	err := s.inBatch(ctx, func(ctx context.Context, tx *wtx) error {
		d, built = given, false // a batch that failed runs its calls again, one by one
		if b != nil {
			b.ConfigID, b.RequestID = d.ConfigID, d.RequestID
			var rec Build
			var err error
			rec, built, err = s.recordBuild(ctx, tx, *b, now)
			switch {
			case errors.Is(err, ErrNotRegistered):
				d.Result, d.Reason = DeliveryIgnored, rec.FullName()+" is "+ErrNotRegistered.Error()+
					" of this configuration (not created through scmadmin): no build"
			case err != nil:
				return err
			case !built:
				d.Result, d.Reason = DeliveryDuplicate, "already built (same commit of this repository, or same delivery id): no second build"
			}
		}
		return tx.QueryRowContext(ctx,
			`INSERT INTO webhook_deliveries (config_id, request_id, event, result, status, reason, received_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			d.ConfigID, d.RequestID, d.Event, d.Result, d.Status, d.Reason, now).Scan(&d.ID)
	})
	if err != nil {
		return Delivery{}, fmt.Errorf("store: record delivery for %d: %w", d.ConfigID, err)
	}
	if built {
		s.buildQueued()
	}
	// Only signed deliveries are recorded, but a host can still send many.
	s.pruneHistories(ctx, d.ConfigID)
	return d, nil
}

// StartBuild records b, a build the platform asked for, unless the same commit of the same
// repository is built already; it returns the build recorded, or the one that was, and
// whether it is new. ErrNotRegistered when b's repository is not registered.
func (s *Store) StartBuild(ctx context.Context, b Build) (Build, bool, error) {
	var built bool
	err := s.inTx(ctx, func(tx *wtx) error {
		var err error
		now := s.now()
		b, built, err = s.recordBuild(ctx, tx, b, now)
		if err != nil || built {
			return err
		}
		b, err = scanBuild(tx.QueryRowContext(ctx, `SELECT `+buildColumns+` FROM builds
			WHERE config_id = ? AND repository = ? AND commit_id = ?`, b.ConfigID, b.Repository, b.Commit))
		return err
	})
	if err != nil {
		return b, false, fmt.Errorf("store: start build of %s in %d: %w", b.Repository, b.ConfigID, err)
	}
	if built {
		s.buildQueued()
		s.pruneHistories(ctx, b.ConfigID)
	}
	return b, built, nil
}

// FullName is the build's repository as OWNER/NAME.
func (b Build) FullName() string { return b.ProjectKey + "/" + b.Repository }

// recordBuild records b unless the same build is already recorded, and reports whether it
// did; ErrNotRegistered, with nothing written, when b.ProjectKey/b.Repository is not one of
// the configuration's registered repositories. The repository's row stays locked until the
// transaction ends, so that it cannot be forgotten while its build is being recorded. While
// the build hook is on (StartBuildHook), the build also waits in the hook's outbox, written in
// this same transaction.
func (s *Store) recordBuild(ctx context.Context, tx *wtx, b Build, now time.Time) (Build, bool, error) {
	b.Repository, b.Actor, b.Commit = clip(b.Repository, maxSlugLen), clip(b.Actor, maxActorLen), clip(b.Commit, maxCommitLen)
	b.ProjectKey = clip(b.ProjectKey, maxSlugLen)
	b.Trigger = cmp.Or(b.Trigger, TriggerPush)
	if b.PushedAt.IsZero() {
		b.PushedAt = now
	}
	b.PushedAt, b.CreatedAt = b.PushedAt.UTC(), now
	var repoID int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM repositories WHERE config_id = ? AND slug = ? AND lower(owner) = lower(?)`+s.d.shareLock,
		b.ConfigID, b.Repository, b.ProjectKey).Scan(&repoID)
	if errors.Is(err, sql.ErrNoRows) {
		return b, false, ErrNotRegistered
	} else if err != nil {
		return b, false, err
	}
	if b.Seq, err = nextBuildSeq(ctx, tx); err != nil {
		return b, false, err
	}
	err = tx.QueryRowContext(ctx,
		`INSERT INTO builds (config_id, request_id, project_key, repository, commit_id, actor, via, pushed_at, created_at, seq)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id`,
		b.ConfigID, b.RequestID, b.ProjectKey, b.Repository, b.Commit, b.Actor, b.Trigger, b.PushedAt, now, b.Seq).Scan(&b.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return b, false, nil // the seq taken is not used: the feed's order has gaps, never a reversal
	} else if err != nil {
		return b, false, err
	}
	if err := s.queueBuildHook(ctx, tx, b.Seq, now); err != nil {
		return b, false, err
	}
	return b, true, nil
}

// pruneOneIn is how often pruneHistories prunes: finding the row kept rows back walks kept
// index entries, which for thousands kept cost as much as the rest of a delivery. Pruning at a
// random one of pruneOneIn writes keeps about kept+pruneOneIn rows, whatever the order of writes.
const pruneOneIn = 64

// pruneHistories keeps configuration configID's deliveries and builds bounded: once in about
// pruneOneIn calls, it prunes both to their kept numbers. It runs in a transaction of its own,
// after the one that added to them: inside a batch (see inBatch), rows deleted before another
// call takes the builds' sequence would be locked in an order another server's batch may
// reverse, a deadlock on PostgreSQL. A prune that fails is left to the next one.
func (s *Store) pruneHistories(ctx context.Context, configID int64) {
	if rand.N(pruneOneIn) != 0 {
		return
	}
	s.inTx(ctx, func(tx *wtx) error {
		if err := prune(ctx, tx, "webhook_deliveries", configID, KeptDeliveries); err != nil {
			return err
		}
		return prune(ctx, tx, "builds", configID, KeptBuilds)
	})
}

// prune deletes a configuration's rows of table but its latest kept.
func prune(ctx context.Context, tx *wtx, table string, configID int64, kept int) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE config_id = ?1 AND id <= (
	   SELECT id FROM `+table+` WHERE config_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)`, configID, kept)
	return err
}

// clip cuts s to at most n bytes, on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// CountWebhookFailure counts a delivery refused for its signature, which is not recorded:
// anyone can send one.
func (s *Store) CountWebhookFailure(ctx context.Context, configID int64) error {
	if _, err := s.exec(ctx, `UPDATE scm_configs SET webhook_failures = webhook_failures + 1 WHERE id = ?`, configID); err != nil {
		return fmt.Errorf("store: count webhook failure of %d: %w", configID, err)
	}
	return nil
}

// WebhookStatus is what the details page shows of a configuration's webhook.
type WebhookStatus struct {
	Failures    int
	InstalledAt time.Time // zero when never installed through scmadmin
}

// WebhookStatus returns the webhook's failure count and installation time.
func (s *Store) WebhookStatus(ctx context.Context, configID int64) (WebhookStatus, error) {
	var ws WebhookStatus
	var installed sql.NullTime
	err := s.queryRow(ctx, `SELECT webhook_failures, webhook_installed_at FROM scm_configs WHERE id = ?`, configID).
		Scan(&ws.Failures, &installed)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return WebhookStatus{}, fmt.Errorf("store: webhook status of %d: %w", configID, err)
	}
	ws.InstalledAt = installed.Time
	return ws, nil
}

// RecordWebhookInstalled notes that the webhook was installed on the host now.
func (s *Store) RecordWebhookInstalled(ctx context.Context, configID int64, by Actor) error {
	return s.inTx(ctx, func(tx *wtx) error {
		c, err := s.scmConfig(ctx, tx, configID)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE scm_configs SET webhook_installed_at = ? WHERE id = ?`, s.now(), configID); err != nil {
			return err
		}
		return s.audit(ctx, tx, configEvent(by, ActionInstallWebhook, c, nil))
	})
}

// RotateWebhookSecret makes secret the webhook's secret. The one it replaces stays valid for
// WebhookGrace, so that deliveries signed with it are not lost while the host is updated; so
// does the one before it, when it is still within its own grace.
func (s *Store) RotateWebhookSecret(ctx context.Context, configID int64, secret string, by Actor) error {
	err := s.inTx(ctx, func(tx *wtx) error {
		c, err := s.scmConfig(ctx, tx, configID)
		if err != nil {
			return err
		}
		now := s.now()
		held, err := s.webhookSecrets(ctx, tx.QueryContext, configID)
		if err != nil {
			return err
		}
		// Each moves down a place, re-sealed under its new name; one past its grace is dropped.
		if prev, ok := held.replaced(WebhookSecretPrevious); ok && now.Before(prev.Until) {
			err = s.putSecrets(ctx, tx, configID, map[string]string{WebhookSecretOlder: prev.Secret}, prev.Until.Add(-WebhookGrace))
		} else {
			_, err = tx.ExecContext(ctx, `DELETE FROM scm_secrets WHERE config_id = ? AND name = ?`, configID, WebhookSecretOlder)
		}
		if err != nil {
			return err
		}
		if held.Current != "" {
			if err := s.putSecrets(ctx, tx, configID, map[string]string{WebhookSecretPrevious: held.Current}, now); err != nil {
				return err
			}
		}
		if err := s.putSecrets(ctx, tx, configID, map[string]string{WebhookSecret: secret}, now); err != nil {
			return err
		}
		return s.audit(ctx, tx, configEvent(by, ActionRotateWebhookSecret, c, []Change{{Field: WebhookSecret, To: SecretChanged}}))
	})
	if err != nil {
		return fmt.Errorf("store: rotate webhook secret of %d: %w", configID, err)
	}
	return nil
}

// WebhookSecrets are the secrets a delivery to a configuration may be signed with: the
// current one, and those rotations replaced, newest first, each with the end of its grace.
type WebhookSecrets struct {
	Current  string
	Replaced []ReplacedSecret
}

// ReplacedSecret is a webhook secret a rotation replaced, accepted until Until.
type ReplacedSecret struct {
	name   string
	Secret string
	Until  time.Time
}

// replaced returns the replaced secret called name, if there is one.
func (w WebhookSecrets) replaced(name string) (ReplacedSecret, bool) {
	i := slices.IndexFunc(w.Replaced, func(r ReplacedSecret) bool { return r.name == name })
	if i < 0 {
		return ReplacedSecret{}, false
	}
	return w.Replaced[i], true
}

// WebhookSecrets opens configuration configID's webhook secrets. Never render or log them.
func (s *Store) WebhookSecrets(ctx context.Context, configID int64) (WebhookSecrets, error) {
	w, err := s.webhookSecrets(ctx, s.query, configID)
	if err != nil {
		return w, fmt.Errorf("store: open webhook secrets of %d: %w", configID, err)
	}
	return w, nil
}

// webhookSecrets opens configuration configID's webhook secrets through query (the readers',
// or a transaction's).
func (s *Store) webhookSecrets(ctx context.Context, query func(context.Context, string, ...any) (*sql.Rows, error),
	configID int64) (WebhookSecrets, error) {
	var w WebhookSecrets
	rows, err := query(ctx, `SELECT name, key_id, ciphertext, set_at FROM scm_secrets WHERE config_id = ? AND name IN (?, ?, ?)
		ORDER BY set_at DESC`, configID, WebhookSecret, WebhookSecretPrevious, WebhookSecretOlder)
	if err != nil {
		return w, err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var keyID uint32
		var sealed []byte
		var setAt time.Time
		if err := rows.Scan(&name, &keyID, &sealed, &setAt); err != nil {
			return w, err
		}
		plain, err := s.keys.Open(keyID, sealed, secretAD(configID, name))
		if err != nil {
			return w, err
		}
		if name == WebhookSecret {
			w.Current = string(plain)
		} else { // its set_at is when it was replaced
			w.Replaced = append(w.Replaced, ReplacedSecret{name: name, Secret: string(plain), Until: setAt.Add(WebhookGrace)})
		}
	}
	return w, rows.Err()
}

// EnsureWebhookSecret gives configuration configID secret as its webhook secret unless it has
// one (a configuration from before every one had one), and returns the one it has: of two
// callers at once, both get the same.
func (s *Store) EnsureWebhookSecret(ctx context.Context, configID int64, secret string, by Actor) (string, error) {
	err := s.inTx(ctx, func(tx *wtx) error {
		c, err := s.scmConfig(ctx, tx, configID)
		if err != nil {
			return err
		}
		keyID, sealed := s.keys.Seal([]byte(secret), secretAD(configID, WebhookSecret))
		res, err := tx.ExecContext(ctx, `INSERT INTO scm_secrets (config_id, name, key_id, ciphertext, fingerprint, set_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (config_id, name) DO NOTHING`,
			configID, WebhookSecret, keyID, sealed, Fingerprint(secret), s.now())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		return s.audit(ctx, tx, configEvent(by, ActionRotateWebhookSecret, c, []Change{{Field: WebhookSecret, To: SecretChanged}}))
	})
	if err != nil {
		return "", fmt.Errorf("store: ensure webhook secret of %d: %w", configID, err)
	}
	secrets, err := s.OpenSecrets(ctx, configID)
	return secrets[WebhookSecret], err
}

// Deliveries returns a configuration's latest deliveries, newest first.
func (s *Store) Deliveries(ctx context.Context, configID int64, limit int) ([]Delivery, error) {
	rows, err := s.query(ctx,
		`SELECT id, config_id, request_id, event, result, status, reason, received_at FROM webhook_deliveries
		 WHERE config_id = ? ORDER BY id DESC LIMIT ?`, configID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: deliveries of %d: %w", configID, err)
	}
	defer rows.Close()
	var ds []Delivery
	for rows.Next() {
		var d Delivery
		if err := rows.Scan(&d.ID, &d.ConfigID, &d.RequestID, &d.Event, &d.Result, &d.Status, &d.Reason, &d.ReceivedAt); err != nil {
			return nil, fmt.Errorf("store: deliveries of %d: %w", configID, err)
		}
		ds = append(ds, d)
	}
	return ds, rows.Err()
}

// Builds returns a configuration's latest builds, newest first.
func (s *Store) Builds(ctx context.Context, configID int64, limit int) ([]Build, error) {
	rows, err := s.query(ctx, `SELECT `+buildColumns+` FROM builds WHERE config_id = ? ORDER BY id DESC LIMIT ?`, configID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: builds of %d: %w", configID, err)
	}
	defer rows.Close()
	var bs []Build
	for rows.Next() {
		b, err := scanBuild(rows)
		if err != nil {
			return nil, fmt.Errorf("store: builds of %d: %w", configID, err)
		}
		bs = append(bs, b)
	}
	return bs, rows.Err()
}

const buildColumns = `id, config_id, request_id, project_key, repository, commit_id, actor, via, pushed_at, created_at, seq`

func scanBuild(row interface{ Scan(...any) error }) (Build, error) {
	var b Build
	err := row.Scan(&b.ID, &b.ConfigID, &b.RequestID, &b.ProjectKey, &b.Repository, &b.Commit, &b.Actor, &b.Trigger, &b.PushedAt, &b.CreatedAt, &b.Seq)
	return b, err
}
