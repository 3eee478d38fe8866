// Package fakehost is the tests' fake Bitbucket Server: the REST API (/rest/api/1.0) the
// connection test, the webhook installation and the repositories call, answering as Bitbucket Server's
// documentation shows, over TLS on 127.0.0.1. Only tests import it.
package fakehost

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Bitbucket's error answers, as it words them.
const (
	AuthFailed = `{"errors":[{"context":null,"message":"Authentication failed. Please check your credentials and try again.",` +
		`"exceptionName":"com.atlassian.bitbucket.auth.IncorrectPasswordAuthenticationException"}]}`
	NotPermitted = `{"errors":[{"context":null,"message":"You are not permitted to access this resource",` +
		`"exceptionName":"com.atlassian.bitbucket.AuthorisationException"}]}`
	noSuchResource = `{"errors":[{"context":null,"message":"No such resource","exceptionName":null}]}`
)

// Call is one request the fake received.
type Call struct {
	Method, Path, Query string
	Header              http.Header
	Body                []byte
}

// Bitbucket is a Bitbucket Server's REST API, an http.Handler configurable per test (its
// setters may be called while it serves). A new one is version 7.21.0, holds project ALGO
// ("Algorithms") and knows no token.
type Bitbucket struct {
	mu          sync.Mutex
	version     string
	displayName string
	projects    map[string]string       // key → name
	users       map[string]user         // bearer token → its user
	hooks       map[string][]webhook    // project key → its webhooks
	repos       map[string][]string     // project key → its repositories' slugs, oldest first
	override    map[string]http.Handler // path → what answers it instead
	refusal     *refusal                // when set, what every call is answered
	pingStatus  int                     // scmadmin's answer to a test delivery, as Bitbucket reports it
	nextHookID  int
	calls       []Call
	mux         *http.ServeMux
}

type user struct {
	name         string
	projectAdmin bool
	// created and expiryDays are what the token list tells of the token (expiryDays 0: none).
	created    time.Time
	expiryDays int
}

type webhook = map[string]any

type refusal struct {
	status int
	body   string
}

// NewBitbucket returns the fake, not yet served (see ServeTLS).
func NewBitbucket() *Bitbucket {
	f := &Bitbucket{
		version: "7.21.0", displayName: "Bitbucket",
		projects:   map[string]string{"ALGO": "Algorithms"},
		users:      map[string]user{},
		hooks:      map[string][]webhook{},
		repos:      map[string][]string{},
		override:   map[string]http.Handler{},
		pingStatus: http.StatusOK,
		nextHookID: 10,
	}
	m := http.NewServeMux()
	const api = "/rest/api/1.0"
	m.HandleFunc("GET "+api+"/application-properties", f.Properties)
	m.HandleFunc("GET "+api+"/profile/recent/repos", f.authed(f.recentRepos))
	m.HandleFunc("GET "+api+"/projects/{key}", f.authed(f.project))
	m.HandleFunc("GET "+api+"/projects/{key}/permissions/users", f.authed(f.permissions))
	m.HandleFunc("GET "+api+"/projects/{key}/webhooks", f.authed(f.inProject(f.listHooks)))
	m.HandleFunc("POST "+api+"/projects/{key}/webhooks", f.authed(f.inProject(f.createHook)))
	m.HandleFunc("PUT "+api+"/projects/{key}/webhooks/{id}", f.authed(f.inProject(f.updateHook)))
	m.HandleFunc("POST "+api+"/projects/{key}/webhooks/test", f.authed(f.inProject(f.pingHook)))
	m.HandleFunc("POST "+api+"/projects/{key}/repos", f.authed(f.inProject(f.createRepo)))
	m.HandleFunc("DELETE "+api+"/projects/{key}/repos/{slug}", f.authed(f.inProject(f.deleteRepo)))
	m.HandleFunc("GET /rest/access-tokens/1.0/users/{user}", f.authed(f.listTokens))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, noSuchResource)
	})
	f.mux = m
	return f
}

// ---- configuration ------------------------------------------------------------------------

// SetVersion sets the version application-properties reports.
func (f *Bitbucket) SetVersion(v string) { f.locked(func() { f.version = v }) }

// AddProject makes the fake hold project key, called name.
func (f *Bitbucket) AddProject(key, name string) { f.locked(func() { f.projects[key] = name }) }

// AddToken makes token authenticate as username, admin of every project when projectAdmin.
func (f *Bitbucket) AddToken(token, username string, projectAdmin bool) {
	f.locked(func() { f.users[token] = user{name: username, projectAdmin: projectAdmin} })
}

// ExpireToken makes token (which must be the base64 of "ID:secret", as Bitbucket's are) listed
// as made at created, expiring expiryDays after.
func (f *Bitbucket) ExpireToken(token string, created time.Time, expiryDays int) {
	f.locked(func() {
		u := f.users[token]
		u.created, u.expiryDays = created, expiryDays
		f.users[token] = u
	})
}

// RevokeToken makes token fail to authenticate from now on.
func (f *Bitbucket) RevokeToken(token string) { f.locked(func() { delete(f.users, token) }) }

// Override answers path with h instead of the fake's API.
func (f *Bitbucket) Override(path string, h http.HandlerFunc) {
	f.locked(func() { f.override[path] = h })
}

// Refuse answers every call with status and body, until Refuse(0, "").
func (f *Bitbucket) Refuse(status int, body string) {
	f.locked(func() {
		f.refusal = nil
		if status != 0 {
			f.refusal = &refusal{status, body}
		}
	})
}

// SetPingStatus is what Bitbucket reports scmadmin answered its test delivery.
func (f *Bitbucket) SetPingStatus(status int) { f.locked(func() { f.pingStatus = status }) }

// SetWebhooks replaces project key's webhooks.
func (f *Bitbucket) SetWebhooks(key string, hooks ...map[string]any) {
	f.locked(func() { f.hooks[key] = hooks })
}

// Webhooks returns project key's webhooks.
func (f *Bitbucket) Webhooks(key string) []map[string]any {
	var out []map[string]any
	f.locked(func() { out = append(out, f.hooks[key]...) })
	return out
}

// AddRepo makes project key hold a repository called slug.
func (f *Bitbucket) AddRepo(key, slug string) {
	f.locked(func() { f.repos[key] = append(f.repos[key], slug) })
}

// Repos returns the slugs of project key's repositories, oldest first.
func (f *Bitbucket) Repos(key string) []string {
	var out []string
	f.locked(func() { out = append(out, f.repos[key]...) })
	return out
}

// Calls returns the requests received since the last Reset, oldest first.
func (f *Bitbucket) Calls() []Call {
	var out []Call
	f.locked(func() { out = append(out, f.calls...) })
	return out
}

// Paths returns the calls as "METHOD /path".
func (f *Bitbucket) Paths() []string {
	var out []string
	for _, c := range f.Calls() {
		out = append(out, c.Method+" "+c.Path)
	}
	return out
}

// Reset forgets the calls received so far.
func (f *Bitbucket) Reset() { f.locked(func() { f.calls = nil }) }

func (f *Bitbucket) locked(do func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	do()
}

// ---- serving ------------------------------------------------------------------------------

func (f *Bitbucket) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	f.mu.Lock()
	f.calls = append(f.calls, Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Header: r.Header.Clone(), Body: body})
	refused, h := f.refusal, f.override[r.URL.Path]
	f.mu.Unlock()
	switch {
	case refused != nil:
		writeJSON(w, refused.status, refused.body)
	case h != nil:
		h.ServeHTTP(w, r)
	default:
		f.mux.ServeHTTP(w, r)
	}
}

// Properties answers GET /rest/api/1.0/application-properties, which needs no token.
func (f *Bitbucket) Properties(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	b, _ := json.Marshal(map[string]string{"version": f.version, "buildNumber": "7021000",
		"buildDate": "1690000000000", "displayName": f.displayName})
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, string(b))
}

type userHandler func(w http.ResponseWriter, r *http.Request, u user)

// authed answers 401 unless the request's bearer token is one the fake knows.
func (f *Bitbucket) authed(h userHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		u, ok := f.users[bearer(r)]
		f.mu.Unlock()
		if !ok {
			writeJSON(w, http.StatusUnauthorized, AuthFailed)
			return
		}
		h(w, r, u)
	}
}

func bearer(r *http.Request) string {
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return token
}

// inProject answers 404 unless the path's project exists; h runs under the fake's lock.
func (f *Bitbucket) inProject(h userHandler) userHandler {
	return func(w http.ResponseWriter, r *http.Request, u user) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, ok := f.projects[r.PathValue("key")]; !ok {
			noSuchProject(w, r.PathValue("key"))
			return
		}
		h(w, r, u)
	}
}

func noSuchProject(w http.ResponseWriter, key string) {
	writeJSON(w, http.StatusNotFound, fmt.Sprintf(`{"errors":[{"context":null,"message":"Project %s does not exist.",`+
		`"exceptionName":"com.atlassian.bitbucket.project.NoSuchProjectException"}]}`, key))
}

func (f *Bitbucket) recentRepos(w http.ResponseWriter, r *http.Request, u user) {
	w.Header().Set("X-AUSERNAME", u.name)
	writeJSON(w, http.StatusOK, `{"size":0,"limit":1,"isLastPage":true,"values":[],"start":0}`)
}

// listTokens lists the user's personal access tokens as Bitbucket does, ids and dates but never
// the tokens; only to the user.
func (f *Bitbucket) listTokens(w http.ResponseWriter, r *http.Request, u user) {
	if r.PathValue("user") != u.name {
		writeJSON(w, http.StatusUnauthorized, NotPermitted)
		return
	}
	values := []map[string]any{}
	f.mu.Lock()
	for token, tu := range f.users {
		raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(token, "BBDC-"))
		id, _, ok := strings.Cut(string(raw), ":")
		if tu.name != u.name || err != nil || !ok {
			continue
		}
		v := map[string]any{"id": id, "name": "token " + id, "createdDate": tu.created.UnixMilli(),
			"permissions": []string{"PROJECT_ADMIN", "REPO_ADMIN"}, "user": map[string]any{"name": tu.name, "slug": tu.name}}
		if tu.expiryDays > 0 {
			v["expiryDays"] = tu.expiryDays
		}
		values = append(values, v)
	}
	f.mu.Unlock()
	b, _ := json.Marshal(map[string]any{"size": len(values), "limit": 100, "isLastPage": true, "start": 0, "values": values})
	writeJSON(w, http.StatusOK, string(b))
}

func (f *Bitbucket) project(w http.ResponseWriter, r *http.Request, u user) {
	key := r.PathValue("key")
	f.mu.Lock()
	name, ok := f.projects[key]
	f.mu.Unlock()
	if !ok {
		noSuchProject(w, key)
		return
	}
	writeJSON(w, http.StatusOK, fmt.Sprintf(`{"key":%q,"id":1,"name":%q,"public":false,"type":"NORMAL",`+
		`"links":{"self":[{"href":"https://%s/projects/%s"}]}}`, key, name, r.Host, key))
}

// permissions answers only a project admin, as Bitbucket does.
func (f *Bitbucket) permissions(w http.ResponseWriter, r *http.Request, u user) {
	if !u.projectAdmin {
		writeJSON(w, http.StatusUnauthorized, NotPermitted)
		return
	}
	b, _ := json.Marshal(map[string]any{"size": 1, "limit": 1, "isLastPage": false, "start": 0, "nextPageStart": 1,
		"values": []any{map[string]any{"user": map[string]string{"name": u.name}, "permission": "PROJECT_ADMIN"}}})
	writeJSON(w, http.StatusOK, string(b))
}

func (f *Bitbucket) listHooks(w http.ResponseWriter, r *http.Request, _ user) {
	hooks := f.hooks[r.PathValue("key")]
	b, _ := json.Marshal(map[string]any{"size": len(hooks), "limit": 100, "isLastPage": true, "start": 0,
		"values": append([]webhook{}, hooks...)})
	writeJSON(w, http.StatusOK, string(b))
}

func (f *Bitbucket) createHook(w http.ResponseWriter, r *http.Request, _ user) {
	h, ok := readHook(w, r)
	if !ok {
		return
	}
	key := r.PathValue("key")
	f.nextHookID++
	h["id"] = f.nextHookID
	f.hooks[key] = append(f.hooks[key], h)
	b, _ := json.Marshal(h)
	writeJSON(w, http.StatusCreated, string(b))
}

func (f *Bitbucket) updateHook(w http.ResponseWriter, r *http.Request, _ user) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, `{"errors":[{"context":null,"message":"Invalid webhook id","exceptionName":null}]}`)
		return
	}
	h, ok := readHook(w, r)
	if !ok {
		return
	}
	hooks := f.hooks[r.PathValue("key")]
	for i, old := range hooks {
		if old["id"] == float64(id) || old["id"] == id {
			h["id"] = id
			hooks[i] = h
			b, _ := json.Marshal(h)
			writeJSON(w, http.StatusOK, string(b))
			return
		}
	}
	writeJSON(w, http.StatusNotFound, `{"errors":[{"context":null,"message":"Webhook not found","exceptionName":null}]}`)
}

// readHook reads a webhook from the request's body, answering 400 when it is not one.
func readHook(w http.ResponseWriter, r *http.Request) (webhook, bool) {
	var h webhook
	if err := json.NewDecoder(r.Body).Decode(&h); err != nil {
		writeJSON(w, http.StatusBadRequest, `{"errors":[{"context":null,"message":"Invalid JSON","exceptionName":null}]}`)
		return nil, false
	}
	return h, true
}

func (f *Bitbucket) pingHook(w http.ResponseWriter, r *http.Request, _ user) {
	writeJSON(w, http.StatusOK, fmt.Sprintf(`{"request":{"url":%q,"method":"POST"},"response":{"statusCode":%d,"body":"pong"}}`,
		r.URL.Query().Get("url"), f.pingStatus))
}

// createRepo makes a repository as Bitbucket does: only for a project admin, its slug the
// name lower-cased, a taken slug refused (409); the answer holds its clone links.
func (f *Bitbucket) createRepo(w http.ResponseWriter, r *http.Request, u user) {
	key := r.PathValue("key")
	if !u.projectAdmin {
		writeJSON(w, http.StatusUnauthorized, fmt.Sprintf(`{"errors":[{"context":null,"message":"You are not permitted to create `+
			`repositories in project %s","exceptionName":"com.atlassian.bitbucket.AuthorisationException"}]}`, key))
		return
	}
	var req struct{ Name, ScmID string }
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Name == "" || req.ScmID != "git" {
		writeJSON(w, http.StatusBadRequest, `{"errors":[{"context":"name","message":"A name and the scmId git are required.","exceptionName":null}]}`)
		return
	}
	slug := strings.ReplaceAll(strings.ToLower(req.Name), " ", "-")
	if slices.Contains(f.repos[key], slug) {
		writeJSON(w, http.StatusConflict, fmt.Sprintf(`{"errors":[{"context":"name","message":"This repository URL is already taken by '%s' `+
			`in '%s'","exceptionName":"com.atlassian.bitbucket.repository.DuplicateRepositoryNameException"}]}`, slug, f.projects[key]))
		return
	}
	f.repos[key] = append(f.repos[key], slug)
	host, _, _ := strings.Cut(r.Host, ":")
	path := strings.ToLower(key) + "/" + slug + ".git"
	b, _ := json.Marshal(map[string]any{"slug": slug, "id": len(f.repos[key]), "name": req.Name, "scmId": "git", "state": "AVAILABLE",
		"project": map[string]any{"key": key, "name": f.projects[key]},
		"links": map[string]any{"clone": []map[string]string{
			{"href": "ssh://git@" + host + ":7999/" + path, "name": "ssh"},
			{"href": "https://" + r.Host + "/scm/" + path, "name": "http"}}}})
	writeJSON(w, http.StatusCreated, string(b))
}

// deleteRepo schedules a repository's deletion, as Bitbucket does (202).
func (f *Bitbucket) deleteRepo(w http.ResponseWriter, r *http.Request, u user) {
	key, slug := r.PathValue("key"), r.PathValue("slug")
	if !u.projectAdmin {
		writeJSON(w, http.StatusUnauthorized, NotPermitted)
		return
	}
	i := slices.Index(f.repos[key], slug)
	if i < 0 {
		writeJSON(w, http.StatusNotFound, fmt.Sprintf(`{"errors":[{"context":null,"message":"Repository %s/%s does not exist.",`+
			`"exceptionName":"com.atlassian.bitbucket.repository.NoSuchRepositoryException"}]}`, key, slug))
		return
	}
	f.repos[key] = slices.Delete(f.repos[key], i, i+1)
	writeJSON(w, http.StatusAccepted, `{"context":null,"message":"Repository scheduled for deletion.","exceptionName":null}`)
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	io.WriteString(w, body)
}
