package web

import (
	"cmp"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// hostRepos is the repository API of a fake GitHub, GitHub Enterprise, GitLab or Bitbucket
// Cloud (an oauthHost, which serves it under its lock): the repositories it holds, the
// webhooks scmadmin added to them, and what it refuses.
type hostRepos struct {
	f          *oauthHost
	repos      map[string]bool           // "owner/name" on the host
	hooks      map[string]map[string]any // "owner/name" → the webhook scmadmin added
	namespaces map[float64]string        // GitLab's namespace ids, as looked up
	bearers    []string                  // the token of each call, in order
	// refuseHooks and refuseDeletes make the host refuse those for want of permission.
	refuseHooks, refuseDeletes bool
}

// readOnlyOrg is an organisation the connected account may not create repositories in (403);
// owners neither it, the account nor one of its organisations do not exist (404).
const readOnlyOrg = "read-only-org"

func newHostRepos(f *oauthHost) *hostRepos {
	h := &hostRepos{f: f, repos: map[string]bool{}, hooks: map[string]map[string]any{}, namespaces: map[float64]string{}}
	p := f.fam.apiPrefix
	routes := map[string]http.HandlerFunc{}
	switch f.provider {
	case "github", "github_enterprise":
		routes["POST "+p+"/user/repos"], routes["POST "+p+"/orgs/{owner}/repos"] = h.githubCreate, h.githubCreate
		routes["POST "+p+"/repos/{owner}/{name}/hooks"], routes["DELETE "+p+"/repos/{owner}/{name}"] = h.addHook, h.remove
	case "gitlab":
		routes["GET "+p+"/namespaces/{path}"], routes["POST "+p+"/projects"] = h.gitlabNamespace, h.gitlabCreate
		routes["POST "+p+"/projects/{id}/hooks"], routes["DELETE "+p+"/projects/{id}"] = h.addHook, h.remove
	case "bitbucket_cloud":
		routes["POST "+p+"/repositories/{owner}/{name}"] = h.bitbucketCloudCreate
		routes["POST "+p+"/repositories/{owner}/{name}/hooks"], routes["DELETE "+p+"/repositories/{owner}/{name}"] = h.addHook, h.remove
	}
	for pattern, handler := range routes {
		f.extra.HandleFunc(pattern, h.authed(handler))
	}
	return h
}

// authed answers 401 unless the request carries a live token of the host's, and checks that
// what it posts is JSON.
func (h *hostRepos) authed(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		h.bearers = append(h.bearers, bearer)
		if _, live := h.f.tokens[bearer]; !live {
			h.f.writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials"})
			return
		}
		if r.Method == http.MethodPost && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			h.f.t.Errorf("%s %s sent Content-Type %q, want JSON", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
		next(w, r)
	}
}

// owner says whether the account may create repositories under owner: 0, or the status of
// the refusal.
func (h *hostRepos) owner(owner string) int {
	switch {
	case owner == readOnlyOrg:
		return http.StatusForbidden
	case owner == h.f.login || slices.Contains(h.f.orgs, owner):
		return 0
	}
	return http.StatusNotFound
}

func (h *hostRepos) body(r *http.Request) map[string]any {
	var b map[string]any
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		h.f.t.Errorf("%s %s: the body is not JSON: %v", r.Method, r.URL.Path, err)
	}
	return b
}

// made records owner/name as created, false (after answering 4xx as the host does) when it exists.
func (h *hostRepos) made(w http.ResponseWriter, owner, name string, taken any, status int) bool {
	if h.repos[owner+"/"+name] {
		h.f.writeJSON(w, status, taken)
		return false
	}
	h.repos[owner+"/"+name] = true
	return true
}

func (h *hostRepos) sshURL(owner, name string) string {
	u, _ := url.Parse(h.f.web)
	return "git@" + u.Hostname() + ":" + owner + "/" + name + ".git"
}

func (h *hostRepos) githubCreate(w http.ResponseWriter, r *http.Request) {
	owner, b := cmp.Or(r.PathValue("owner"), h.f.login), h.body(r)
	name, _ := b["name"].(string)
	switch h.owner(owner) {
	case http.StatusForbidden:
		h.f.writeJSON(w, http.StatusForbidden, map[string]string{"message": "You need admin access to the organization before adding a repository to it."})
		return
	case http.StatusNotFound:
		h.f.writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
		return
	}
	if b["private"] != true {
		h.f.t.Errorf("GitHub asked for a repository that is not private: %v", b)
	}
	taken := map[string]any{"message": "Repository creation failed.", "errors": []map[string]string{{"resource": "Repository",
		"code": "custom", "field": "name", "message": "name already exists on this account"}}}
	if h.made(w, owner, name, taken, http.StatusUnprocessableEntity) {
		h.f.writeJSON(w, http.StatusCreated, map[string]any{"name": name, "full_name": owner + "/" + name, "private": true,
			"owner": map[string]string{"login": owner}, "clone_url": h.f.web + "/" + owner + "/" + name + ".git", "ssh_url": h.sshURL(owner, name)})
	}
}

func (h *hostRepos) gitlabNamespace(w http.ResponseWriter, r *http.Request) {
	path := r.PathValue("path")
	if h.owner(path) == http.StatusNotFound {
		h.f.writeJSON(w, http.StatusNotFound, map[string]string{"message": "404 Namespace Not Found"})
		return
	}
	id := float64(100 + len(h.namespaces))
	h.namespaces[id] = path
	h.f.writeJSON(w, http.StatusOK, map[string]any{"id": id, "full_path": path, "kind": "group"})
}

func (h *hostRepos) gitlabCreate(w http.ResponseWriter, r *http.Request) {
	b := h.body(r)
	name, _ := b["path"].(string)
	owner := h.f.login
	if id, ok := b["namespace_id"].(float64); ok {
		owner = h.namespaces[id]
	}
	if h.owner(owner) != 0 || b["visibility"] != "private" {
		h.f.writeJSON(w, http.StatusForbidden, map[string]string{"message": "403 Forbidden"})
		return
	}
	taken := map[string]any{"message": map[string][]string{"name": {"has already been taken"}, "path": {"has already been taken"}}}
	if h.made(w, owner, name, taken, http.StatusBadRequest) {
		h.f.writeJSON(w, http.StatusCreated, map[string]any{"id": 7, "path": name, "path_with_namespace": owner + "/" + name,
			"namespace": map[string]string{"full_path": owner}, "http_url_to_repo": h.f.web + "/" + owner + "/" + name + ".git",
			"ssh_url_to_repo": h.sshURL(owner, name)})
	}
}

func (h *hostRepos) bitbucketCloudCreate(w http.ResponseWriter, r *http.Request) {
	owner, name, b := r.PathValue("owner"), r.PathValue("name"), h.body(r)
	if st := h.owner(owner); st != 0 || b["is_private"] != true || b["scm"] != "git" {
		h.f.writeJSON(w, cmp.Or(st, http.StatusBadRequest), map[string]any{"type": "error",
			"error": map[string]string{"message": "You do not have permission to create repositories in this workspace."}})
		return
	}
	taken := map[string]any{"type": "error", "error": map[string]string{"message": "Repository with this Slug and Owner already exists."}}
	if h.made(w, owner, name, taken, http.StatusBadRequest) {
		u, _ := url.Parse(h.f.web)
		h.f.writeJSON(w, http.StatusOK, map[string]any{"slug": name, "full_name": owner + "/" + name,
			"workspace": map[string]string{"slug": owner}, "links": map[string]any{"clone": []map[string]string{
				{"name": "https", "href": "https://" + h.f.login + "@" + u.Host + "/" + owner + "/" + name + ".git"},
				{"name": "ssh", "href": h.sshURL(owner, name)}}}})
	}
}

// repoOf is the repository a hook or delete names: GitLab's URL-encoded path, or owner and name.
func repoOf(r *http.Request) string {
	return cmp.Or(r.PathValue("id"), r.PathValue("owner")+"/"+r.PathValue("name"))
}

func (h *hostRepos) addHook(w http.ResponseWriter, r *http.Request) {
	repo, b := repoOf(r), h.body(r)
	switch {
	case !h.repos[repo]:
		h.f.writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
	case h.refuseHooks:
		h.f.writeJSON(w, http.StatusForbidden, map[string]string{"message": "Must have admin rights to Repository."})
	default:
		h.hooks[repo] = b
		h.f.writeJSON(w, http.StatusCreated, map[string]any{"id": 1})
	}
}

func (h *hostRepos) remove(w http.ResponseWriter, r *http.Request) {
	repo := repoOf(r)
	switch {
	case h.refuseDeletes:
		h.f.writeJSON(w, http.StatusForbidden, map[string]string{"message": "Must have admin rights to Repository."})
	case !h.repos[repo]:
		h.f.writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
	default:
		delete(h.repos, repo)
		delete(h.hooks, repo)
		w.WriteHeader(map[bool]int{true: http.StatusAccepted, false: http.StatusNoContent}[h.f.provider == "gitlab"])
	}
}

// hookSent is what a webhook scmadmin added says, in the provider's words: where it posts,
// the secret that signs (or, on GitLab, comes with) its deliveries, and whether pushes go.
func hookSent(provider string, b map[string]any) (to, secret string, pushes bool) {
	switch provider {
	case "gitlab":
		to, _ = b["url"].(string)
		secret, _ = b["token"].(string)
		return to, secret, b["push_events"] == true
	case "bitbucket_cloud":
		to, _ = b["url"].(string)
		secret, _ = b["secret"].(string)
		events, _ := b["events"].([]any)
		return to, secret, len(events) == 1 && events[0] == "repo:push" && b["active"] == true
	}
	config, _ := b["config"].(map[string]any)
	to, _ = config["url"].(string)
	secret, _ = config["secret"].(string)
	events, _ := b["events"].([]any)
	return to, secret, len(events) == 1 && events[0] == "push" && b["active"] == true && config["content_type"] == "json"
}
