package probe

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

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
		if user := res.header.Get("X-AUSERNAME"); user != "" {
			return Passed, fmt.Sprintf("The token authenticates as %s.", user)
		}
		return Passed, "The token authenticates."
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
