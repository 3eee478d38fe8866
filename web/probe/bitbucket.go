package probe

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/scmadmin/scmadmin/store"
)

// bitbucketAPI is the REST API's base, from an API URL given with or without /rest/api/1.0.
func (r *run) bitbucketAPI() string {
	return strings.TrimSuffix(strings.TrimRight(r.t.APIURL, "/"), "/rest/api/1.0") + "/rest/api/1.0"
}

func (r *run) bearer(req *http.Request) {
	req.Header.Set("Authorization", "Bearer "+r.t.Secrets[store.FieldAccessToken])
}

// bitbucketMessage is the message of Bitbucket's {"errors":[{"message"}]} answer, if any.
func bitbucketMessage(body []byte) string {
	var e struct {
		Errors []struct{ Message string } `json:"errors"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	var msgs []string
	for _, m := range e.Errors {
		if m.Message != "" {
			msgs = append(msgs, strings.TrimSpace(m.Message))
		}
	}
	return truncate(strings.Join(msgs, " "), 300)
}

// said quotes what Bitbucket said, for a detail.
func said(res response) string {
	if m := bitbucketMessage(res.body); m != "" {
		return fmt.Sprintf("Bitbucket answered %d: “%s”", res.status, m)
	}
	return fmt.Sprintf("Bitbucket answered %d %s", res.status, http.StatusText(res.status))
}

func (r *run) bitbucketVersion() (Status, string) {
	u := r.bitbucketAPI() + "/application-properties"
	res, failure := r.getAPI(u, nil)
	if failure != "" {
		return Failed, failure
	}
	var props struct {
		Version     string `json:"version"`
		BuildNumber string `json:"buildNumber"`
		DisplayName string `json:"displayName"`
	}
	if res.status != http.StatusOK || json.Unmarshal(res.body, &props) != nil || props.Version == "" ||
		!strings.Contains(props.DisplayName, "Bitbucket") {
		return Failed, fmt.Sprintf("%s answered %d, but not as Bitbucket Server does (no version and name at "+
			"/rest/api/1.0/application-properties). Check that the API URL is your Bitbucket Server's address followed by /rest/api/1.0.",
			u, res.status)
	}
	ok, known := versionAtLeast(props.Version, 5, 6)
	if !known {
		return Failed, fmt.Sprintf("Bitbucket Server reports the version %q, which cannot be read. The platform needs 5.6 or newer.", props.Version)
	}
	if !ok {
		return Failed, fmt.Sprintf("This is Bitbucket Server %s; the platform needs 5.6 or newer. Upgrade Bitbucket Server.", props.Version)
	}
	return Passed, fmt.Sprintf("Bitbucket Server %s.", props.Version)
}

func (r *run) bitbucketToken() (Status, string) {
	res, err := r.call(http.MethodGet, r.bitbucketAPI()+"/profile/recent/repos?limit=1", nil, r.bearer)
	if err != nil {
		return Failed, fmt.Sprintf("Bitbucket did not answer (%s).", plainError(err))
	}
	switch res.status {
	case http.StatusOK:
		user := res.header.Get("X-AUSERNAME")
		found := "The token authenticates."
		if user != "" {
			found = fmt.Sprintf("The token authenticates as %s.", user)
		}
		return r.bitbucketTokenExpiry(user, found)
	case http.StatusUnauthorized, http.StatusForbidden:
		return Failed, fmt.Sprintf("%s. The token is wrong, revoked or expired: create a new personal access token "+
			"(your avatar → Manage account → Personal access tokens) and enter it here.", said(res))
	}
	return Failed, said(res) + " when the token was tried. Check the API URL."
}

func (r *run) projectURL() string {
	return r.bitbucketAPI() + "/projects/" + url.PathEscape(r.t.ProjectKey)
}

func (r *run) bitbucketProject() (Status, string) {
	res, err := r.call(http.MethodGet, r.projectURL(), nil, r.bearer)
	if err != nil {
		return Failed, fmt.Sprintf("Bitbucket did not answer (%s).", plainError(err))
	}
	var project struct {
		Key  string `json:"key"`
		Name string `json:"name"`
	}
	switch {
	case res.status == http.StatusOK && json.Unmarshal(res.body, &project) == nil && project.Key != "":
		return Passed, fmt.Sprintf("Project %s (%s) exists.", project.Key, project.Name)
	case res.status == http.StatusNotFound:
		return Failed, fmt.Sprintf("%s. There is no project %s, or the token's user cannot see it: check the project key "+
			"(Bitbucket shows it in the project's settings), or create the project.", said(res), r.t.ProjectKey)
	}
	return Failed, fmt.Sprintf("%s when asked for project %s. The token's user must be able to see the project.", said(res), r.t.ProjectKey)
}

func (r *run) bitbucketAdmin() (Status, string) {
	// Bitbucket answers this only to a project admin.
	res, err := r.call(http.MethodGet, r.projectURL()+"/permissions/users?limit=1", nil, r.bearer)
	if err != nil {
		return Failed, fmt.Sprintf("Bitbucket did not answer (%s).", plainError(err))
	}
	if res.status == http.StatusOK {
		return Passed, fmt.Sprintf("The token's user is admin of project %s.", r.t.ProjectKey)
	}
	return Failed, fmt.Sprintf("%s. The platform must create repositories and webhooks in project %s: give the token's "+
		"user Admin permission on the project (Project settings → Project permissions), and use a token with Admin "+
		"permission for projects and repositories.", said(res), r.t.ProjectKey)
}

// bitbucketTokenExpiry adds to found (what the token step found) when the token expires,
// where Bitbucket tells: its list of user's tokens (GET /rest/access-tokens/1.0/users/{user})
// gives each one's createdDate (Unix milliseconds) and, for a token made with an expiry,
// expiryDays. A token that expires within ExpiryWarning is a warning naming the date.
func (r *run) bitbucketTokenExpiry(user, found string) (Status, string) {
	id, ok := bitbucketTokenID(r.t.Secrets[store.FieldAccessToken])
	if user == "" || !ok {
		return Passed, found
	}
	u := strings.TrimSuffix(r.bitbucketAPI(), "/rest/api/1.0") + "/rest/access-tokens/1.0/users/" + url.PathEscape(user) + "?limit=100"
	res, err := r.call(http.MethodGet, u, nil, r.bearer)
	var tokens struct {
		Values []struct {
			ID          json.Number `json:"id"`
			CreatedDate int64       `json:"createdDate"`
			ExpiryDays  int         `json:"expiryDays"`
		} `json:"values"`
	}
	if err != nil || res.status != http.StatusOK || json.Unmarshal(res.body, &tokens) != nil {
		return Passed, found
	}
	for _, tok := range tokens.Values {
		if tok.ID.String() != id {
			continue
		}
		if tok.ExpiryDays <= 0 || tok.CreatedDate <= 0 {
			return Passed, found + " It does not expire."
		}
		expires := time.UnixMilli(tok.CreatedDate).AddDate(0, 0, tok.ExpiryDays).UTC()
		r.told.TokenExpires = expires
		if soon, days := r.expiresSoon(expires); soon {
			return Warning, fmt.Sprintf("%s It expires on %s, in %d days: create a new personal access token (your avatar → "+
				"Manage account → Personal access tokens) and enter it here before then, or builds will fail.",
				found, expires.Format("2006-01-02"), days)
		}
		return Passed, fmt.Sprintf("%s It expires on %s.", found, expires.Format("2006-01-02"))
	}
	return Passed, found
}

// bitbucketTokenID is the id Bitbucket lists a personal access token under: the token is
// the base64 of "ID:secret" (a 12-digit ID), prefixed with "BBDC-" since Bitbucket 8.
func bitbucketTokenID(token string) (string, bool) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(token, "BBDC-"))
	if err != nil {
		return "", false
	}
	id, _, ok := strings.Cut(string(raw), ":")
	if _, err := strconv.ParseUint(id, 10, 64); !ok || err != nil {
		return "", false
	}
	return id, true
}
