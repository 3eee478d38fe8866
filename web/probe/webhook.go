package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// The same client that checks a Bitbucket Server installs the build-on-checkin webhook on
// its project, with the same bounds.

// webhookName is how scmadmin's webhook is named in Bitbucket.
const webhookName = "scmadmin build-on-checkin"

type bitbucketWebhook struct {
	ID            int64             `json:"id,omitempty"`
	Name          string            `json:"name"`
	URL           string            `json:"url"`
	Events        []string          `json:"events"`
	Active        bool              `json:"active"`
	Configuration map[string]string `json:"configuration"`
}

// hostError says in plain words what went wrong talking to the host and what to do; taken
// says the host refused a repository's name as taken.
type hostError struct {
	msg   string
	taken bool
}

func (e *hostError) Error() string { return e.msg }

func (r *run) failure(what string, res response, err error) error {
	if err != nil {
		return &hostError{msg: fmt.Sprintf("Could not %s: Bitbucket did not answer (%s). Run Test connection to see which step fails.", what, plainError(err))}
	}
	advice := "Run Test connection to see why."
	if res.status == http.StatusUnauthorized || res.status == http.StatusForbidden {
		advice = "The token needs Admin permission for projects and repositories, and its user must be admin of the project."
	}
	return &hostError{msg: fmt.Sprintf("Could not %s: %s. %s", what, said(res), advice)}
}

// InstallWebhook creates on t's Bitbucket project a webhook for repo:refs_changed that posts
// to hookURL signed with secret, or updates the one already posting to hookURL. updated
// reports which.
func (c *Checker) InstallWebhook(ctx context.Context, t Target, hookURL, secret string) (updated bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.totalTimeout)
	defer cancel()
	release, ok := c.acquire(ctx)
	if !ok {
		return false, &hostError{msg: "Too many calls to hosts are running at once. Try again in a moment."}
	}
	defer release()
	r := c.newRun(ctx, t, nil)
	hooks := r.projectURL() + "/webhooks"
	res, err := r.call(http.MethodGet, hooks+"?limit=100", nil, r.bearer)
	if err != nil || res.status != http.StatusOK {
		return false, r.failure("read the project's webhooks", res, err)
	}
	var page struct {
		Values []bitbucketWebhook `json:"values"`
	}
	if err := json.Unmarshal(res.body, &page); err != nil {
		return false, &hostError{msg: "Could not read the project's webhooks: Bitbucket's answer was not the JSON it documents."}
	}
	hook := bitbucketWebhook{Name: webhookName, URL: hookURL, Events: []string{"repo:refs_changed"}, Active: true,
		Configuration: map[string]string{"secret": secret}}
	method, target := http.MethodPost, hooks
	for _, h := range page.Values {
		if h.URL == hookURL {
			method, target, updated = http.MethodPut, fmt.Sprintf("%s/%d", hooks, h.ID), true
			break
		}
	}
	body, _ := json.Marshal(hook)
	res, err = r.call(method, target, strings.NewReader(string(body)), func(req *http.Request) {
		r.bearer(req)
		req.Header.Set("Content-Type", "application/json")
	})
	if err != nil || (res.status != http.StatusOK && res.status != http.StatusCreated) {
		return false, r.failure("install the webhook", res, err)
	}
	return updated, nil
}

// PingWebhook asks Bitbucket to deliver a test event to hookURL and says what came of it.
func (c *Checker) PingWebhook(ctx context.Context, t Target, hookURL string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.totalTimeout)
	defer cancel()
	release, ok := c.acquire(ctx)
	if !ok {
		return "", &hostError{msg: "Too many calls to hosts are running at once. Try again in a moment."}
	}
	defer release()
	r := c.newRun(ctx, t, nil)
	res, err := r.call(http.MethodPost, r.projectURL()+"/webhooks/test?url="+url.QueryEscape(hookURL), nil, r.bearer)
	if err != nil || res.status != http.StatusOK {
		return "", r.failure("send a test ping", res, err)
	}
	var answer struct {
		Response struct {
			StatusCode int `json:"statusCode"`
		} `json:"response"`
	}
	if json.Unmarshal(res.body, &answer) != nil || answer.Response.StatusCode == 0 {
		return "Bitbucket sent a test event, but did not say what scmadmin answered.", nil
	}
	if answer.Response.StatusCode/100 != 2 {
		return "", &hostError{msg: fmt.Sprintf("Bitbucket sent a test event to %s and got %d back. Check that Bitbucket can reach "+
			"that address (SCMADMIN_BASE_URL must be the address Bitbucket sees).", hookURL, answer.Response.StatusCode)}
	}
	return fmt.Sprintf("Bitbucket delivered a test event to %s and got %d back: it can reach scmadmin.", hookURL, answer.Response.StatusCode), nil
}

// HostMessage returns the plain-words message of an error from InstallWebhook or PingWebhook.
func HostMessage(err error) (string, bool) {
	var he *hostError
	if errors.As(err, &he) {
		return he.msg, true
	}
	return "", false
}
