package probe

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/scmadmin/scmadmin/store"
)

// The OAuth round trip's calls to the host go through the same bounded client as the
// connection test: its time limits, body limit, trusted roots, and no redirect elsewhere or
// to plain http.

// OAuthHost is where a configuration's host takes the round trip's calls, as absolute URLs
// (the catalog's endpoints under the configuration's Website and API URLs).
type OAuthHost struct {
	Token, User, Orgs string
	// Revoke is where a token is revoked, "" where the host offers no way.
	Revoke string
	// RevokeGrant says Revoke is GitHub's DELETE of the grant (client credentials as basic
	// auth, the token in a JSON body); otherwise it is RFC 7009's POST of the token.
	RevokeGrant bool
	// BasicAuth says the token endpoint takes the client's credentials as basic auth, not in
	// the form.
	BasicAuth bool
}

// OAuthToken is what a host's token endpoint gave.
type OAuthToken struct {
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	ExpiresAt    time.Time `json:"expires_at,omitzero"`
}

// Expired reports whether the token has expired at now (a minute early, for the call's time).
func (t OAuthToken) Expired(now time.Time) bool {
	return !t.ExpiresAt.IsZero() && now.Add(time.Minute).After(t.ExpiresAt)
}

// OAuthAccount is who authorized on the host, and the organisations they can create
// repositories in.
type OAuthAccount struct {
	Username string
	Orgs     []OAuthOrg
}

// OAuthOrg is one organisation (GitHub), group (GitLab) or workspace (Bitbucket Cloud).
type OAuthOrg struct {
	Username    string
	AccessLevel string
}

// OAuthError is a refusal of the round trip in plain words: what the host said, and what to do.
type OAuthError struct {
	Msg string
	// Said is a token endpoint's refusal as the host worded it, with no advice ("" elsewhere):
	// the advice of Msg is about an authorization code, not a refresh token.
	Said string
}

func (e *OAuthError) Error() string { return e.Msg }

// ExchangeCode trades an authorization code for a token at h's token endpoint.
func (c *Checker) ExchangeCode(ctx context.Context, t Target, h OAuthHost, code, redirectURI, verifier string) (OAuthToken, error) {
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}}
	if verifier != "" {
		form.Set("code_verifier", verifier)
	}
	return c.tokenCall(ctx, t, h, form)
}

// RefreshToken trades a refresh token for a new token.
func (c *Checker) RefreshToken(ctx context.Context, t Target, h OAuthHost, refresh string) (OAuthToken, error) {
	tok, err := c.tokenCall(ctx, t, h, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	if err == nil && tok.RefreshToken == "" {
		tok.RefreshToken = refresh // hosts that keep the refresh token say nothing of it
	}
	return tok, err
}

// tokenCall posts form to h's token endpoint as t's OAuth client.
func (c *Checker) tokenCall(ctx context.Context, t Target, h OAuthHost, form url.Values) (OAuthToken, error) {
	var tok OAuthToken
	err := c.hostCall(ctx, t, func(r *run) error {
		if !h.BasicAuth {
			form.Set("client_id", t.ClientID)
			form.Set("client_secret", t.Secrets[store.FieldClientSecret])
		}
		res, err := r.call(http.MethodPost, h.Token, strings.NewReader(form.Encode()), func(req *http.Request) {
			if h.BasicAuth {
				r.basicAuth(req)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		})
		if err != nil {
			return &OAuthError{Msg: fmt.Sprintf("%s did not answer (%s). Check the Website URL, and that this server reaches the host.",
				h.Token, plainError(err))}
		}
		tok, err = parseToken(res, c.now())
		return err
	})
	return tok, err
}

// parseToken reads a token endpoint's answer: the token, or the host's refusal in plain words.
func parseToken(res response, now time.Time) (OAuthToken, error) {
	var answer struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    int64  `json:"expires_in"`
		Error        string `json:"error"`
		Description  string `json:"error_description"`
	}
	if err := json.Unmarshal(res.body, &answer); err != nil {
		return OAuthToken{}, &OAuthError{Msg: fmt.Sprintf("The host's token endpoint answered %d, not with the JSON OAuth documents. "+
			"Check the Website URL.", res.status)}
	}
	if answer.AccessToken == "" || answer.Error != "" {
		said := fmt.Sprintf("it answered %d without a token.", res.status)
		if answer.Error != "" {
			said = fmt.Sprintf("it said %s.", answer.Error)
			if answer.Description != "" {
				said = fmt.Sprintf("it said %s: “%s”.", answer.Error, truncate(answer.Description, 200))
			}
		}
		return OAuthToken{}, &OAuthError{Msg: tokenRefusal(answer.Error, answer.Description, res.status), Said: said}
	}
	tok := OAuthToken{AccessToken: answer.AccessToken, RefreshToken: answer.RefreshToken}
	if answer.ExpiresIn > 0 {
		tok.ExpiresAt = now.Add(time.Duration(answer.ExpiresIn) * time.Second).UTC()
	}
	return tok, nil
}

// tokenRefusal says what a token endpoint's error means and what to do.
func tokenRefusal(code, description string, status int) string {
	said := code
	if description != "" {
		said = fmt.Sprintf("%s: “%s”", code, truncate(description, 200))
	}
	switch code {
	case "redirect_uri_mismatch":
		return "The host says the callback URL is not the one registered for this application (" + said + "). Register " +
			"exactly the callback URL shown on the configuration's page, then connect again."
	case "incorrect_client_credentials", "invalid_client", "unauthorized_client":
		return "The host refused the client ID or secret (" + said + "). Copy both again from the application's page on the " +
			"host into the configuration, then connect again."
	case "bad_verification_code", "invalid_grant":
		return "The host refused the authorization code (" + said + "): it was already used or has expired. Connect again."
	}
	if said == "" {
		said = fmt.Sprintf("it answered %d without a token", status)
	}
	return "The host gave no token (" + said + "). Connect again; if it keeps failing, check the application on the host."
}

// ReadAccount reads who the token belongs to and their organisations.
func (c *Checker) ReadAccount(ctx context.Context, t Target, h OAuthHost, token string) (OAuthAccount, error) {
	var acct OAuthAccount
	err := c.hostCall(ctx, t, func(r *run) error {
		var user struct {
			Login    string `json:"login"`
			Username string `json:"username"`
		}
		if err := r.getJSON(h.User, token, &user); err != nil {
			return err
		}
		if acct.Username = cmp.Or(user.Login, user.Username); acct.Username == "" {
			return &OAuthError{Msg: h.User + " names no account (no login or username). Check the API URL."}
		}
		orgs, err := r.readOrgs(h.Orgs, token)
		acct.Orgs = orgs
		return err
	})
	return acct, err
}

// readOrgs reads GitHub's organisations, GitLab's groups or Bitbucket Cloud's workspaces.
func (r *run) readOrgs(u, token string) ([]OAuthOrg, error) {
	var raw json.RawMessage
	if err := r.getJSON(u, token, &raw); err != nil {
		return nil, err
	}
	var list []struct {
		Login       string `json:"login"`
		FullPath    string `json:"full_path"`
		Slug        string `json:"slug"`
		AccessLevel int    `json:"access_level"`
	}
	var page struct {
		Values json.RawMessage `json:"values"`
	}
	if json.Unmarshal(raw, &page) == nil && page.Values != nil {
		raw = page.Values // Bitbucket Cloud pages its lists
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, &OAuthError{Msg: "The host's list of organisations is not the JSON it documents. Check the API URL."}
	}
	orgs := make([]OAuthOrg, 0, len(list))
	for _, o := range list {
		orgs = append(orgs, OAuthOrg{Username: cmp.Or(o.Login, o.FullPath, o.Slug), AccessLevel: accessLevel(o.AccessLevel)})
	}
	return orgs, nil
}

// accessLevel names GitLab's access levels; other hosts list only what one is a member of.
func accessLevel(n int) string {
	switch {
	case n >= 50:
		return "owner"
	case n >= 40:
		return "maintainer"
	case n >= 30:
		return "developer"
	}
	return "member"
}

// getJSON GETs u with token and decodes the answer into v.
func (r *run) getJSON(u, token string, v any) error {
	res, err := r.call(http.MethodGet, u, nil, func(req *http.Request) { req.Header.Set("Authorization", "Bearer "+token) })
	if err != nil {
		return &OAuthError{Msg: fmt.Sprintf("%s did not answer (%s). Check the API URL.", u, plainError(err))}
	}
	if res.status == http.StatusUnauthorized {
		return ErrTokenRefused
	}
	if res.status != http.StatusOK || json.Unmarshal(res.body, v) != nil {
		return &OAuthError{Msg: fmt.Sprintf("%s answered %d, not as the host's API does. Check the API URL.", u, res.status)}
	}
	return nil
}

// ErrTokenRefused is a host refusing a token (401): expired or revoked.
var ErrTokenRefused = &OAuthError{Msg: "The host no longer accepts this account's token: connect the account again."}

// RevokeToken revokes token at h where the host offers that.
func (c *Checker) RevokeToken(ctx context.Context, t Target, h OAuthHost, token string) error {
	if h.Revoke == "" {
		return nil
	}
	return c.hostCall(ctx, t, func(r *run) error {
		method, body, ctype := http.MethodPost, url.Values{"token": {token}, "client_id": {t.ClientID},
			"client_secret": {t.Secrets[store.FieldClientSecret]}}.Encode(), "application/x-www-form-urlencoded"
		if h.RevokeGrant {
			b, _ := json.Marshal(map[string]string{"access_token": token})
			method, body, ctype = http.MethodDelete, string(b), "application/json"
		}
		res, err := r.call(method, h.Revoke, strings.NewReader(body), func(req *http.Request) {
			if h.RevokeGrant {
				r.basicAuth(req)
			}
			req.Header.Set("Content-Type", ctype)
		})
		if err != nil || res.status/100 != 2 && res.status != http.StatusNotFound {
			return &OAuthError{Msg: fmt.Sprintf("The host did not revoke the token (%s).", cmp.Or(plainErrorOrNil(err), fmt.Sprint(res.status)))}
		}
		return nil
	})
}

func plainErrorOrNil(err error) string {
	if err == nil {
		return ""
	}
	return plainError(err)
}

// hostCall runs call with a run for t, within the limits every call to a host has.
func (c *Checker) hostCall(ctx context.Context, t Target, call func(*run) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.totalTimeout)
	defer cancel()
	release, ok := c.acquire(ctx)
	if !ok {
		return &OAuthError{Msg: "Too many calls to hosts are running at once. Try again in a moment."}
	}
	defer release()
	return call(c.newRun(ctx, t, nil))
}
