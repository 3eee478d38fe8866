package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Algorithm repositories on a host: created, given scmadmin's push webhook, deleted. A
// provider's family names the shape of its host's API (repos_hosts.go); every call goes
// through the bounded client, with the limits of every call to a host.

// NewRepository is a repository to create on a host.
type NewRepository struct {
	// Owner holds it: the project key (Bitbucket Server), an account or organisation
	// (GitHub), a namespace (GitLab), a workspace (Bitbucket Cloud). OwnerIsUser says it is
	// the token's own account.
	Owner       string
	OwnerIsUser bool
	Name        string
	Description string
}

// Repository is a repository as its host made it: who holds it, its name there, and where
// to clone it.
type Repository struct {
	Owner, Name      string
	HTTPSURL, SSHURL string
}

// repoAPI is how a family's host creates, hooks and deletes repositories with a token. A
// family without hook gives its repositories no hook of their own (Bitbucket Server's is the
// project's: InstallWebhook).
type repoAPI struct {
	create func(r *run, token string, nr NewRepository) (Repository, error)
	hook   func(r *run, token string, repo Repository, hookURL, secret string) error
	remove func(r *run, token string, repo Repository) error
}

// CreateRepository creates nr on t's host with token. A refusal is an error HostMessage
// reads; NameTaken tells the host already has the name.
func (c *Checker) CreateRepository(ctx context.Context, t Target, token string, nr NewRepository) (Repository, error) {
	var repo Repository
	err := c.repoCall(ctx, t, func(r *run, api repoAPI) error {
		var err error
		repo, err = api.create(r, token, nr)
		return err
	})
	if u, perr := url.Parse(repo.HTTPSURL); perr == nil && u.User != nil {
		u.User = nil // Bitbucket Cloud names the account in it: the URL is for everyone
		repo.HTTPSURL = u.String()
	}
	return repo, err
}

// AddPushHook gives repo a webhook that posts its pushes to hookURL, signed with secret.
func (c *Checker) AddPushHook(ctx context.Context, t Target, token string, repo Repository, hookURL, secret string) error {
	return c.repoCall(ctx, t, func(r *run, api repoAPI) error {
		if api.hook == nil {
			return &hostError{msg: "This host's repositories take no webhook of their own."}
		}
		return api.hook(r, token, repo, hookURL, secret)
	})
}

// DeleteRepository deletes repo on t's host; one already gone is no error.
func (c *Checker) DeleteRepository(ctx context.Context, t Target, token string, repo Repository) error {
	return c.repoCall(ctx, t, func(r *run, api repoAPI) error { return api.remove(r, token, repo) })
}

// repoCall runs call with t's family's API, within the limits of every call to a host.
func (c *Checker) repoCall(ctx context.Context, t Target, call func(*run, repoAPI) error) error {
	api, ok := repoAPIs[t.Family]
	if !ok {
		return &hostError{msg: "scmadmin cannot create repositories on this kind of host."}
	}
	err := c.hostCall(ctx, t, func(r *run) error { return call(r, api) })
	var oe *OAuthError
	if errors.As(err, &oe) { // no place to run, or a token the host refused
		return &hostError{msg: oe.Msg}
	}
	return err
}

// NameTaken reports whether err is a host saying the repository's name is taken.
func NameTaken(err error) bool {
	var he *hostError
	return errors.As(err, &he) && he.taken
}

// withToken prepares a request with token as its bearer and body as JSON.
func withToken(token string) func(*http.Request) {
	return func(req *http.Request) {
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
	}
}

// send makes a call with token and v as its JSON body (none when nil).
func (r *run) send(method, u, token string, v any) (response, error) {
	body := ""
	if v != nil {
		b, _ := json.Marshal(v)
		body = string(b)
	}
	return r.call(method, u, strings.NewReader(body), withToken(token))
}

// refused says why the host did not do what: it did not answer, it answered 401 or 403
// (then what it takes, permission), or it said something else.
func refused(what, permission string, res response, err error) error {
	switch {
	case err != nil:
		return &hostError{msg: fmt.Sprintf("Could not %s: the host did not answer (%s). Run Test connection to see which step fails.",
			what, plainError(err))}
	case res.status == http.StatusUnauthorized || res.status == http.StatusForbidden:
		return &hostError{msg: fmt.Sprintf("Could not %s: %s. This needs %s.", what, hostSaid(res), permission)}
	}
	return &hostError{msg: fmt.Sprintf("Could not %s: %s.", what, hostSaid(res))}
}

// taken is the host saying the name of what it was asked to create is taken.
func taken(what string, res response) error {
	return &hostError{msg: fmt.Sprintf("Could not %s: the host already has a repository of that name (%s). Choose another name.",
		what, hostSaid(res)), taken: true}
}

// decoded reads a success answer into v, or says the answer is not what the host documents.
func decoded(what string, res response, v any) error {
	if err := json.Unmarshal(res.body, v); err != nil {
		return &hostError{msg: fmt.Sprintf("Could not %s: the host answered %d, but not with the JSON it documents. Check the API URL.",
			what, res.status)}
	}
	return nil
}

// hostSaid quotes a host's error answer in any of the families' shapes: Bitbucket Server's
// {"errors":[{"message"}]}, GitHub's {"message","errors"}, GitLab's {"message"} (a string or
// the fields' messages) or {"error","error_description"}, Bitbucket Cloud's {"error":{"message"}}.
func hostSaid(res response) string {
	var v struct {
		Message     json.RawMessage `json:"message"`
		Error       json.RawMessage `json:"error"`
		Description string          `json:"error_description"`
	}
	var said []string
	if json.Unmarshal(res.body, &v) == nil {
		said = append(said, flatten(v.Message), flatten(v.Error), v.Description)
	}
	said = append(said, bitbucketMessage(res.body))
	said = slices.DeleteFunc(said, func(s string) bool { return s == "" })
	if len(said) == 0 {
		return fmt.Sprintf("it answered %d %s", res.status, http.StatusText(res.status))
	}
	return fmt.Sprintf("it answered %d: “%s”", res.status, truncate(strings.Join(said, " "), 300))
}

// flatten is the text of a JSON message: a string, the strings of a list, or an object's
// members as "name text" (its message and detail as they are).
func flatten(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s)
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		var parts []string
		for _, m := range list {
			parts = append(parts, flatten(m))
		}
		return strings.Join(parts, ", ")
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		if text := flatten(obj[k]); text != "" && (k == "message" || k == "detail") {
			parts = append(parts, text)
		} else if text != "" && k != "type" && k != "id" {
			parts = append(parts, k+" "+text)
		}
	}
	return strings.Join(parts, "; ")
}
