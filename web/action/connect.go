package action

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/web/probe"
	"github.com/scmadmin/scmadmin/web/provider"
)

// The OAuth connection of an account to a configuration's host: the round trip that proves
// the configuration works, and the token the platform then acts with.

// Rules that refuse a round trip.
var (
	// ErrNotOAuth refuses a round trip through a configuration that is no OAuth application.
	ErrNotOAuth = errors.New("action: the configuration has no OAuth application")
	// ErrOAuthState refuses an answer whose state is missing, used, expired or another's.
	ErrOAuthState = errors.New("action: the OAuth state does not hold")
	// ErrOAuthHost is the host refusing the round trip, or not answering.
	ErrOAuthHost = errors.New("action: the host refused the OAuth round trip")
	// ErrNotConnected refuses what needs a connected account when there is none.
	ErrNotConnected = errors.New("action: no account is connected")
	// ErrDisabled refuses what a disabled configuration cannot do.
	ErrDisabled = errors.New("action: the configuration is disabled")
)

// Caller is who runs a round trip: the account, and the session it runs in (its hash).
type Caller struct {
	User        store.User
	SessionHash []byte
	By          store.Actor
}

func refuse(rule error, msg string) *Refusal { return &Refusal{Rule: rule, Message: msg} }

// loadOAuth loads configuration id, refusing one that is no OAuth application.
func (a *Actions) loadOAuth(ctx context.Context, id string) (store.SCMConfig, *provider.Provider, error) {
	cfg, p, err := a.Load(ctx, id)
	if err == nil && p.OAuth == nil {
		err = refuse(ErrNotOAuth, "“"+cfg.DisplayName()+"” is no OAuth application: only GitHub, GitHub Enterprise, GitLab "+
			"and Bitbucket Cloud configurations connect accounts.")
	}
	return cfg, p, err
}

// StartConnect begins caller's round trip through configuration id: it returns the host's
// authorization page to send the browser to, which comes back to redirectURI.
func (a *Actions) StartConnect(ctx context.Context, caller Caller, id, redirectURI string) (string, error) {
	cfg, p, err := a.loadOAuth(ctx, id)
	if err != nil {
		return "", err
	}
	if !cfg.Enabled {
		return "", refuse(ErrDisabled, "“"+cfg.DisplayName()+"” is disabled: enable it before connecting an account.")
	}
	state, verifier := rand.Text()+rand.Text(), base64.RawURLEncoding.EncodeToString(randomBytes(32))
	stateHash := sha256.Sum256([]byte(state))
	err = a.st.CreateOAuthState(ctx, stateHash[:], store.OAuthState{SessionHash: caller.SessionHash, UserID: caller.User.ID,
		ConfigID: cfg.ID, Verifier: verifier})
	if err != nil {
		return "", err
	}
	challenge := sha256.Sum256([]byte(verifier))
	return p.OAuth.AuthorizeURL(cfg, redirectURI, state, base64.RawURLEncoding.EncodeToString(challenge[:])), nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// Answer is what the host's redirect brought back to the callback.
type Answer struct {
	State, Code string
	// Error and Description are the host's refusal (error=access_denied …), if it refused.
	Error, Description string
	// ID is the configuration the callback's address names, "" for the shared callback.
	ID string
}

// FinishConnect completes caller's round trip with the host's answer: the code is exchanged
// for a token, the account and its organisations are read, and the token is kept sealed. A
// failure the configuration is to blame for is kept as its last round trip.
func (a *Actions) FinishConnect(ctx context.Context, caller Caller, ans Answer, redirectURI string) (store.SCMConfig, store.OAuthConnection, error) {
	st, err := a.takeState(ctx, caller, ans.State)
	if err != nil {
		return store.SCMConfig{}, store.OAuthConnection{}, err
	}
	cfg, p, err := a.loadByKey(ctx, st.ConfigID)
	if err != nil {
		return cfg, store.OAuthConnection{}, err
	}
	if ans.ID != "" && ans.ID != cfg.Ref {
		return cfg, store.OAuthConnection{}, refuse(ErrOAuthState, "This answer belongs to another configuration's round trip. Connect again.")
	}
	t, secrets, err := a.oauthTarget(ctx, p, cfg)
	if err != nil {
		return cfg, store.OAuthConnection{}, err
	}
	if ans.Error == "access_denied" { // the account's choice, not the configuration's fault
		return cfg, store.OAuthConnection{}, refuse(ErrOAuthHost, hostDeclined(ans))
	} else if ans.Error == "" && ans.Code == "" {
		return cfg, store.OAuthConnection{}, refuse(ErrOAuthHost, "The host's answer has neither a code nor an error. Connect again.")
	} else if ans.Error != "" { // redirect_uri_mismatch, invalid_scope…: the application on the host is wrong
		return cfg, store.OAuthConnection{}, a.roundTripFailed(ctx, caller, cfg, secrets, &probe.OAuthError{Msg: hostDeclined(ans)})
	}
	conn, err := a.connect(ctx, p, t, st, ans.Code, redirectURI)
	if err != nil {
		return cfg, conn, a.roundTripFailed(ctx, caller, cfg, secrets, err)
	}
	conn.UserID, conn.ConfigID = caller.User.ID, cfg.ID
	credentials := store.OAuthCredentials(cfg, secrets[store.FieldClientSecret])
	return cfg, conn, a.st.SaveOAuthConnection(ctx, conn, credentials, caller.By)
}

// takeState takes the round trip's state, refusing one that is missing, used, expired, or
// started in another session.
func (a *Actions) takeState(ctx context.Context, caller Caller, state string) (store.OAuthState, error) {
	if state == "" {
		return store.OAuthState{}, refuse(ErrOAuthState, "The host's answer has no state, so it cannot be matched to a "+
			"round trip started here. Start again with Connect your account.")
	}
	hash := sha256.Sum256([]byte(state))
	st, err := a.st.TakeOAuthState(ctx, hash[:])
	switch {
	case errors.Is(err, store.ErrNotFound):
		return st, refuse(ErrOAuthState, "This answer's state is unknown or was used already: each round trip can finish "+
			"once. Start again with Connect your account.")
	case errors.Is(err, store.ErrStateExpired):
		return st, refuse(ErrOAuthState, "This round trip was started more than 10 minutes ago and has expired. "+
			"Start again with Connect your account.")
	case err != nil:
		return st, err
	case st.UserID != caller.User.ID || subtle.ConstantTimeCompare(st.SessionHash, caller.SessionHash) != 1:
		return st, refuse(ErrOAuthState, "This round trip was started in another session. Start again with Connect your account.")
	}
	return st, nil
}

// hostDeclined says in plain words why the host sent the browser back without a code.
func hostDeclined(ans Answer) string {
	if ans.Error == "access_denied" {
		return "Access was denied on the host: the authorization was cancelled there. Connect again and approve it."
	}
	said := ans.Error
	if ans.Description != "" {
		said += ": “" + truncateWords(ans.Description, 200) + "”"
	}
	if ans.Error == "redirect_uri_mismatch" {
		return "The host says the callback URL is not the one registered (" + said + "). Register exactly the callback URL " +
			"shown on the configuration's page, then connect again."
	}
	return "The host did not authorize the account (" + said + "). Connect again; if it keeps failing, check the application on the host."
}

func truncateWords(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// loadByKey loads the configuration with key id (a state names it so).
func (a *Actions) loadByKey(ctx context.Context, id int64) (store.SCMConfig, *provider.Provider, error) {
	cfg, err := a.st.SCMConfig(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return cfg, nil, refuse(store.ErrNotFound, "The configuration this round trip was for has been deleted.")
	}
	if err != nil {
		return cfg, nil, err
	}
	return a.loadOAuth(ctx, cfg.Ref)
}

// oauthTarget is the probe's target for cfg's OAuth client, its secret opened.
func (a *Actions) oauthTarget(ctx context.Context, p *provider.Provider, cfg store.SCMConfig) (probe.Target, map[string]string, error) {
	secrets, err := a.st.OpenSecrets(ctx, cfg.ID)
	return Target(p, cfg, secrets), secrets, err
}

// connect exchanges the code and reads who connected.
func (a *Actions) connect(ctx context.Context, p *provider.Provider, t probe.Target, st store.OAuthState, code, redirectURI string) (store.OAuthConnection, error) {
	h := p.OAuth.Host(t.SCMConfig)
	verifier := ""
	if p.OAuth.PKCE {
		verifier = st.Verifier
	}
	tok, err := a.checker.ExchangeCode(ctx, t, h, code, redirectURI, verifier)
	if err != nil {
		return store.OAuthConnection{}, err
	}
	acct, err := a.checker.ReadAccount(ctx, t, h, tok.AccessToken)
	if err != nil {
		return store.OAuthConnection{}, err
	}
	raw, _ := json.Marshal(tok)
	conn := store.OAuthConnection{Username: acct.Username, Token: string(raw)}
	for _, o := range acct.Orgs {
		conn.Orgs = append(conn.Orgs, store.OAuthOrg{Username: o.Username, AccessLevel: o.AccessLevel})
	}
	return conn, nil
}

// roundTripFailed keeps a failure of the host's as cfg's last round trip and refuses with it.
// Only a cluster admin's round trip is kept, failed or not: anyone may connect an account,
// and nobody else may make a configuration look failing.
func (a *Actions) roundTripFailed(ctx context.Context, caller Caller, cfg store.SCMConfig, secrets map[string]string, err error) error {
	var oe *probe.OAuthError
	if !errors.As(err, &oe) {
		return err
	}
	if !caller.User.IsAdmin {
		return refuse(ErrOAuthHost, oe.Msg)
	}
	credentials := store.OAuthCredentials(cfg, secrets[store.FieldClientSecret])
	if rerr := a.st.RecordOAuthFailure(context.WithoutCancel(ctx), cfg.ID, credentials, oe.Msg); rerr != nil {
		return rerr
	}
	return refuse(ErrOAuthHost, oe.Msg)
}

// Connection returns the caller's connection to configuration id with a token the host
// accepts: an expired one is refreshed once, where the host gave a refresh token.
func (a *Actions) Connection(ctx context.Context, user store.User, id string) (store.OAuthConnection, probe.OAuthToken, error) {
	cfg, p, err := a.loadOAuth(ctx, id)
	if err != nil {
		return store.OAuthConnection{}, probe.OAuthToken{}, err
	}
	conn, err := a.st.OAuthConnectionOf(ctx, user.ID, cfg.ID)
	if errors.Is(err, store.ErrNotFound) {
		return conn, probe.OAuthToken{}, refuse(ErrNotConnected, "No account of "+user.Username+" is connected to “"+
			cfg.DisplayName()+"”: use Connect your account on its page.")
	} else if err != nil {
		return conn, probe.OAuthToken{}, err
	}
	var tok probe.OAuthToken
	if err := json.Unmarshal([]byte(conn.Token), &tok); err != nil {
		return conn, tok, err
	}
	if !tok.Expired(time.Now()) || tok.RefreshToken == "" {
		return conn, tok, nil
	}
	// One refresh at a time per connection: hosts rotate refresh tokens, so a second refresh
	// with the same one would be refused. Who waited reads the token the first one kept.
	mu, _ := refreshing.LoadOrStore([2]int64{user.ID, cfg.ID}, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	if again, err := a.st.OAuthConnectionOf(ctx, user.ID, cfg.ID); err == nil {
		var kept probe.OAuthToken
		if json.Unmarshal([]byte(again.Token), &kept) == nil && !kept.Expired(time.Now()) {
			return again, kept, nil
		}
	}
	tok, err = a.refresh(ctx, p, cfg, conn, tok)
	return conn, tok, err
}

// refreshing holds a mutex per connection ([user id, configuration id]) that a refresh holds.
var refreshing sync.Map

// refresh trades conn's refresh token for a new token and keeps it.
func (a *Actions) refresh(ctx context.Context, p *provider.Provider, cfg store.SCMConfig, conn store.OAuthConnection, tok probe.OAuthToken) (probe.OAuthToken, error) {
	t, _, err := a.oauthTarget(ctx, p, cfg)
	if err != nil {
		return tok, err
	}
	fresh, err := a.checker.RefreshToken(ctx, t, p.OAuth.Host(cfg), tok.RefreshToken)
	var oe *probe.OAuthError
	if errors.As(err, &oe) {
		return tok, refuse(ErrNotConnected, "The connected account's token expired and the host would not renew it: "+
			cmp.Or(oe.Said, oe.Msg)+" Connect the account again.")
	} else if err != nil {
		return tok, err
	}
	raw, _ := json.Marshal(fresh)
	return fresh, a.st.UpdateOAuthToken(ctx, conn.UserID, conn.ConfigID, string(raw))
}

// Disconnect revokes the caller's token at the host where it offers that, and forgets it
// whatever the host says.
func (a *Actions) Disconnect(ctx context.Context, caller Caller, id string) error {
	cfg, p, err := a.loadOAuth(ctx, id)
	if err != nil {
		return err
	}
	conn, err := a.st.OAuthConnectionOf(ctx, caller.User.ID, cfg.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // nothing to forget: disconnecting twice is no error
	} else if err != nil {
		return err
	}
	var tok probe.OAuthToken
	if json.Unmarshal([]byte(conn.Token), &tok) == nil {
		if t, _, err := a.oauthTarget(ctx, p, cfg); err == nil {
			if err := a.checker.RevokeToken(ctx, t, p.OAuth.Host(cfg), tok.AccessToken); err != nil {
				a.log.Warn("revoke an OAuth token at the host", "config", cfg.Ref, "err", err)
			}
		}
	}
	if err := a.st.DeleteOAuthConnection(ctx, caller.User.ID, cfg.ID, caller.By); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}
