package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Actor is who makes a change and from where, for the audit trail.
type Actor struct {
	Username string
	Addr     string
}

// Audit actions.
const (
	ActionSignIn               = "sign_in"
	ActionSignInFailed         = "sign_in_failed"
	ActionSignOut              = "sign_out"
	ActionSignInThrottled      = "sign_in_throttled"
	ActionChangePassword       = "change_password"
	ActionChangePasswordFailed = "change_password_failed"
	ActionCreate               = "create"
	ActionUpdate               = "update"
	ActionEnable               = "enable"
	ActionDisable              = "disable"
	ActionMakeDefault          = "make_default"
	ActionDelete               = "delete"
	// Webhooks (Bitbucket Server build-on-checkin).
	ActionRotateWebhookSecret = "rotate_webhook_secret"
	ActionInstallWebhook      = "install_webhook"
	// API keys; the event's Target is the key's name.
	ActionCreateAPIKey = "create_api_key"
	ActionRevokeAPIKey = "revoke_api_key"
	// Accounts; the event's Target is the account's name.
	ActionAddUser     = "add_user"
	ActionSetPassword = "set_password"
	ActionGrantAdmin  = "grant_admin"
	ActionRevokeAdmin = "revoke_admin"
	ActionDisableUser = "disable_user"
	ActionEnableUser  = "enable_user"
)

// SecretChanged is what the audit trail records of a secret's new value.
const SecretChanged = "changed"

// Change is one field's change; a secret's To is SecretChanged and its From empty.
type Change struct {
	Field string `json:"field"`
	From  string `json:"from,omitempty"`
	To    string `json:"to,omitempty"`
}

// AuditEvent is one entry of the audit trail.
type AuditEvent struct {
	ID       int64
	At       time.Time
	Actor    Actor
	Action   string
	ConfigID int64 // 0 when the event concerns no configuration
	// ConfigRef is the configuration's id as pages name it.
	ConfigRef string
	Provider  string // the configuration's provider
	Target    string // the configuration's (or account's, or API key's) name at the time
	Changes   []Change
}

// configEvent is the audit event of action on c.
func configEvent(by Actor, action string, c SCMConfig, changes []Change) AuditEvent {
	return AuditEvent{Actor: by, Action: action, ConfigID: c.ID, ConfigRef: c.Ref, Provider: c.Provider, Target: c.DisplayName(), Changes: changes}
}

// RecordAudit adds an event that is not part of a configuration change, such as a sign-in.
func (s *Store) RecordAudit(ctx context.Context, ev AuditEvent) error {
	if err := s.inTx(ctx, func(tx *wtx) error { return s.audit(ctx, tx, ev) }); err != nil {
		return fmt.Errorf("store: record audit: %w", err)
	}
	return nil
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// audit writes ev with db, which is the transaction of the change it records when there is one.
func (s *Store) audit(ctx context.Context, db execer, ev AuditEvent) error {
	if ev.Changes == nil {
		ev.Changes = []Change{}
	}
	changes, err := json.Marshal(ev.Changes)
	if err != nil {
		return err
	}
	var configID any
	if ev.ConfigID != 0 {
		configID = ev.ConfigID
	}
	_, err = db.ExecContext(ctx,
		`INSERT INTO audit_events (at, actor, remote_addr, action, config_id, config_ref, provider, target, changes)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.now(), ev.Actor.Username, ev.Actor.Addr, ev.Action, configID, ev.ConfigRef, ev.Provider, ev.Target, string(changes))
	return err
}

// AuditQuery selects a page of the audit trail, newest first. Each filter applies when set.
type AuditQuery struct {
	ConfigID int64 // only this configuration's events
	// ConfigRef keeps the events of the configuration whose id (SCMConfig.Ref) it is, also
	// once that configuration is deleted.
	ConfigRef string
	Actor     string // only what this user did (names compare case-insensitively)
	Action    string // only this action
	// Target keeps the events whose configuration or account name holds it (ASCII case ignored).
	Target   string
	BeforeID int64 // only events older than this one: the next batch of an export
	Limit    int
	Offset   int
}

// where is the query's WHERE clause, with its arguments.
func (q AuditQuery) where(d *dialect) (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, arg any) {
		conds, args = append(conds, cond), append(args, arg)
	}
	if q.ConfigID != 0 {
		add("config_id = ?", q.ConfigID)
	}
	if q.ConfigRef != "" {
		add("config_ref = ?", q.ConfigRef)
	}
	if q.Actor != "" {
		add("lower(actor) = lower(?)", q.Actor) // as COLLATE NOCASE on SQLite, whose lower() folds ASCII alone
	}
	if q.Action != "" {
		add("action = ?", q.Action)
	}
	if q.Target != "" {
		add(`target `+d.like+` ? ESCAPE '\'`, "%"+likeEscaper.Replace(q.Target)+"%")
	}
	if q.BeforeID != 0 {
		add("id < ?", q.BeforeID)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`)

// ListAudit returns one page of the audit trail, newest first, and how many events match.
func (s *Store) ListAudit(ctx context.Context, q AuditQuery) ([]AuditEvent, int, error) {
	where, args := q.where(s.d)
	var total int
	if err := s.queryRow(ctx, `SELECT count(*) FROM audit_events`+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: count audit: %w", err)
	}
	rows, err := s.query(ctx,
		`SELECT id, at, actor, remote_addr, action, coalesce(config_id, 0), config_ref, provider, target, changes FROM audit_events`+where+
			` ORDER BY id DESC LIMIT ? OFFSET ?`, append(args, q.Limit, q.Offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list audit: %w", err)
	}
	defer rows.Close()
	var evs []AuditEvent
	for rows.Next() {
		var ev AuditEvent
		var changes string
		if err := rows.Scan(&ev.ID, &ev.At, &ev.Actor.Username, &ev.Actor.Addr, &ev.Action, &ev.ConfigID, &ev.ConfigRef, &ev.Provider, &ev.Target, &changes); err != nil {
			return nil, 0, fmt.Errorf("store: list audit: %w", err)
		}
		if err := json.Unmarshal([]byte(changes), &ev.Changes); err != nil {
			return nil, 0, fmt.Errorf("store: audit event %d changes: %w", ev.ID, err)
		}
		evs = append(evs, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("store: list audit: %w", err)
	}
	return evs, total, nil
}

// AuditNamesConfig reports whether an event of the audit trail concerns the configuration
// whose id is ref, now or before it was deleted.
func (s *Store) AuditNamesConfig(ctx context.Context, ref string) (bool, error) {
	var found bool
	err := s.queryRow(ctx, `SELECT EXISTS (SELECT 1 FROM audit_events WHERE config_ref = ?)`, ref).Scan(&found)
	if err != nil {
		return false, fmt.Errorf("store: audit of configuration %q: %w", ref, err)
	}
	return found, nil
}
