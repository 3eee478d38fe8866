package probe

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/scmadmin/scmadmin/store"
)

func (r *run) apiBase() string { return strings.TrimRight(r.t.APIURL, "/") }

func (r *run) basicAuth(req *http.Request) {
	req.SetBasicAuth(r.t.ClientID, r.t.Secrets[store.FieldClientSecret])
}

// jsonObject reports whether body is a JSON object holding any of keys.
func jsonObject(body []byte, keys ...string) bool {
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil {
		return false
	}
	for _, k := range keys {
		if _, ok := obj[k]; ok {
			return true
		}
	}
	return false
}

func (r *run) githubMeta() (Status, string) {
	u := r.apiBase() + "/meta"
	res, failure := r.getAPI(u, nil)
	if failure != "" {
		return Failed, failure
	}
	if res.status != http.StatusOK || !jsonObject(res.body, "verifiable_password_authentication", "hooks", "installed_version") {
		return Failed, fmt.Sprintf("%s answered %d, but not as GitHub's API does. Check the API URL: https://api.github.com "+
			"for GitHub.com, your server's address followed by /api/v3 for GitHub Enterprise.", u, res.status)
	}
	var meta struct {
		InstalledVersion string `json:"installed_version"`
	}
	json.Unmarshal(res.body, &meta)
	if meta.InstalledVersion != "" {
		return Passed, fmt.Sprintf("GitHub Enterprise Server %s answers.", meta.InstalledVersion)
	}
	return Passed, "GitHub's API answers."
}

// githubCredentials asks GitHub about a token that does not exist, as the OAuth App itself:
// 404 means GitHub accepted the client ID and secret, 401 that it did not.
func (r *run) githubCredentials() (Status, string) {
	u := r.apiBase() + "/applications/" + url.PathEscape(r.t.ClientID) + "/token"
	body := strings.NewReader(`{"access_token":"scmadmin-connection-test-0000000000000000"}`)
	res, err := r.call(http.MethodPost, u, body, func(req *http.Request) {
		r.basicAuth(req)
		req.Header.Set("Content-Type", "application/json")
	})
	if err != nil {
		return Failed, fmt.Sprintf("GitHub did not answer (%s).", plainError(err))
	}
	switch res.status {
	case http.StatusNotFound, http.StatusUnprocessableEntity:
		return Passed, "GitHub accepts the client ID and secret."
	case http.StatusUnauthorized:
		return Failed, "GitHub refused the client ID or the client secret. Copy the Client ID from the OAuth App's page " +
			"and generate a new client secret there."
	}
	return Warning, fmt.Sprintf("GitHub answered %d, so the client ID and secret could not be checked. They will be "+
		"checked when someone first signs in through the OAuth App.", res.status)
}

func (r *run) gitlabVersion() (Status, string) {
	u := r.apiBase() + "/version"
	res, failure := r.getAPI(u, nil)
	if failure != "" {
		return Failed, failure
	}
	var v struct {
		Version string `json:"version"`
		Message string `json:"message"`
	}
	json.Unmarshal(res.body, &v)
	switch {
	case res.status == http.StatusOK && v.Version != "":
		return Passed, fmt.Sprintf("GitLab %s answers.", v.Version)
	case res.status == http.StatusUnauthorized && strings.Contains(v.Message, "401"):
		return Passed, "GitLab's API answers (it shows its version only to signed-in users)."
	}
	return Failed, fmt.Sprintf("%s answered %d, but not as GitLab's API does. Check the API URL: the Website URL followed by /api/v4.",
		u, res.status)
}

func (r *run) gitlabCredentials() (Status, string) {
	return Warning, "GitLab checks an application's ID and secret only when someone signs in through it, so they are not " +
		"checked here. Make sure the application's Redirect URI is the callback URL shown on this form."
}

func (r *run) bitbucketCloudAPI() (Status, string) {
	u := r.apiBase() + "/repositories?pagelen=1"
	res, failure := r.getAPI(u, nil)
	if failure != "" {
		return Failed, failure
	}
	if res.status != http.StatusOK || !jsonObject(res.body, "pagelen", "values") {
		return Failed, fmt.Sprintf("%s answered %d, but not as Bitbucket Cloud's API does. Check the API URL: https://api.bitbucket.org/2.0.",
			u, res.status)
	}
	return Passed, "Bitbucket Cloud's API answers."
}

// bitbucketCloudCredentials asks for a token with the client-credentials grant.
func (r *run) bitbucketCloudCredentials() (Status, string) {
	u := strings.TrimRight(r.t.WebsiteURL, "/") + "/site/oauth2/access_token"
	res, err := r.call(http.MethodPost, u, strings.NewReader("grant_type=client_credentials"), func(req *http.Request) {
		r.basicAuth(req)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	})
	if err != nil {
		return Failed, fmt.Sprintf("%s did not answer (%s). Check the Website URL.", u, plainError(err))
	}
	var answer struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error_description"`
	}
	json.Unmarshal(res.body, &answer)
	if res.status == http.StatusOK && answer.AccessToken != "" {
		return Passed, "Bitbucket Cloud accepts the consumer key and secret."
	}
	detail := ""
	if answer.Error != "" {
		detail = fmt.Sprintf(": “%s”", truncate(answer.Error, 200))
	}
	return Failed, fmt.Sprintf("Bitbucket Cloud refused the consumer key or secret (%d%s). Copy both again from "+
		"Workspace settings → OAuth consumers, and check that the consumer is private.", res.status, detail)
}
