package probe

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// The repository APIs of each family's host, as their documentation shows them.

var repoAPIs = map[Family]repoAPI{
	BitbucketServer: {create: bitbucketServerCreate, remove: bitbucketServerDelete},
	GitHub:          {create: githubCreate, hook: githubHook, remove: githubDelete},
	GitLab:          {create: gitlabCreate, hook: gitlabHook, remove: gitlabDelete},
	BitbucketCloud:  {create: bitbucketCloudCreate, hook: bitbucketCloudHook, remove: bitbucketCloudDelete},
}

// cloneLinks are Bitbucket's links.clone (both kinds): "http" or "https", and "ssh".
type cloneLinks struct {
	Links struct {
		Clone []struct{ Href, Name string } `json:"clone"`
	} `json:"links"`
}

func (l cloneLinks) urls() (https, ssh string) {
	for _, c := range l.Links.Clone {
		switch c.Name {
		case "http", "https":
			https = c.Href
		case "ssh":
			ssh = c.Href
		}
	}
	return https, ssh
}

func creating(nr NewRepository) string {
	return fmt.Sprintf("create the repository %s in %s", nr.Name, nr.Owner)
}

// ---- Bitbucket Server: POST /rest/api/1.0/projects/{KEY}/repos ------------------------------

func bitbucketServerCreate(r *run, token string, nr NewRepository) (Repository, error) {
	body := map[string]string{"name": nr.Name, "scmId": "git"}
	if nr.Description != "" {
		body["description"] = nr.Description
	}
	u := r.bitbucketAPI() + "/projects/" + url.PathEscape(nr.Owner) + "/repos"
	res, err := r.send(http.MethodPost, u, token, body)
	switch {
	case err == nil && res.status == http.StatusConflict:
		return Repository{}, taken(creating(nr), res)
	case err != nil || res.status != http.StatusCreated:
		return Repository{}, refused(creating(nr), "Admin permission on project "+nr.Owner+" for the token and its user", res, err)
	}
	var answer struct {
		cloneLinks
		Slug    string `json:"slug"`
		Project struct {
			Key string `json:"key"`
		} `json:"project"`
	}
	if err := decoded(creating(nr), res, &answer); err != nil {
		return Repository{}, err
	}
	repo := Repository{Owner: answer.Project.Key, Name: answer.Slug}
	repo.HTTPSURL, repo.SSHURL = answer.urls()
	return repo, nil
}

func bitbucketServerDelete(r *run, token string, repo Repository) error {
	u := r.bitbucketAPI() + "/projects/" + url.PathEscape(repo.Owner) + "/repos/" + url.PathEscape(repo.Name)
	res, err := r.send(http.MethodDelete, u, token, nil)
	if err != nil || (res.status != http.StatusAccepted && res.status != http.StatusNoContent && res.status != http.StatusNotFound) {
		return refused("delete the repository "+repo.Owner+"/"+repo.Name, "Admin permission on project "+repo.Owner, res, err)
	}
	return nil
}

// ---- GitHub and GitHub Enterprise: POST /user/repos or /orgs/{org}/repos ---------------------

func githubCreate(r *run, token string, nr NewRepository) (Repository, error) {
	u := r.apiBase() + "/orgs/" + url.PathEscape(nr.Owner) + "/repos"
	if nr.OwnerIsUser {
		u = r.apiBase() + "/user/repos"
	}
	res, err := r.send(http.MethodPost, u, token, map[string]any{"name": nr.Name, "description": nr.Description, "private": true})
	switch {
	case err == nil && res.status == http.StatusUnprocessableEntity && strings.Contains(hostSaid(res), "already exists"):
		return Repository{}, taken(creating(nr), res)
	case err != nil || res.status != http.StatusCreated:
		return Repository{}, refused(creating(nr), "the repo scope, and permission to create repositories in "+nr.Owner, res, err)
	}
	var answer struct {
		Name  string `json:"name"`
		Owner struct {
			Login string `json:"login"`
		} `json:"owner"`
		CloneURL string `json:"clone_url"`
		SSHURL   string `json:"ssh_url"`
	}
	err = decoded(creating(nr), res, &answer)
	return Repository{Owner: answer.Owner.Login, Name: answer.Name, HTTPSURL: answer.CloneURL, SSHURL: answer.SSHURL}, err
}

func githubHook(r *run, token string, repo Repository, hookURL, secret string) error {
	u := r.apiBase() + "/repos/" + url.PathEscape(repo.Owner) + "/" + url.PathEscape(repo.Name) + "/hooks"
	res, err := r.send(http.MethodPost, u, token, map[string]any{"name": "web", "active": true, "events": []string{"push"},
		"config": map[string]string{"url": hookURL, "content_type": "json", "secret": secret, "insecure_ssl": "0"}})
	if err != nil || res.status != http.StatusCreated {
		return refused("add the push webhook to "+repo.Owner+"/"+repo.Name, "the admin:repo_hook scope and admin rights on the repository", res, err)
	}
	return nil
}

func githubDelete(r *run, token string, repo Repository) error {
	u := r.apiBase() + "/repos/" + url.PathEscape(repo.Owner) + "/" + url.PathEscape(repo.Name)
	res, err := r.send(http.MethodDelete, u, token, nil)
	if err != nil || (res.status != http.StatusNoContent && res.status != http.StatusNotFound) {
		return refused("delete the repository "+repo.Owner+"/"+repo.Name, "admin rights on the repository and the delete_repo scope, "+
			"which the connection does not ask for: delete it on the host by hand, then forget it without purge", res, err)
	}
	return nil
}

// ---- GitLab: POST /projects, in a namespace -------------------------------------------------

func gitlabCreate(r *run, token string, nr NewRepository) (Repository, error) {
	body := map[string]any{"name": nr.Name, "path": nr.Name, "description": nr.Description, "visibility": "private"}
	if !nr.OwnerIsUser {
		id, err := gitlabNamespace(r, token, nr)
		if err != nil {
			return Repository{}, err
		}
		body["namespace_id"] = id
	}
	res, err := r.send(http.MethodPost, r.apiBase()+"/projects", token, body)
	switch {
	case err == nil && res.status == http.StatusBadRequest && strings.Contains(hostSaid(res), "already been taken"):
		return Repository{}, taken(creating(nr), res)
	case err != nil || res.status != http.StatusCreated:
		return Repository{}, refused(creating(nr), "the api scope, and a role in "+nr.Owner+" that may create projects", res, err)
	}
	var answer struct {
		Path      string `json:"path"`
		Namespace struct {
			FullPath string `json:"full_path"`
		} `json:"namespace"`
		HTTPURL string `json:"http_url_to_repo"`
		SSHURL  string `json:"ssh_url_to_repo"`
	}
	err = decoded(creating(nr), res, &answer)
	return Repository{Owner: answer.Namespace.FullPath, Name: answer.Path, HTTPSURL: answer.HTTPURL, SSHURL: answer.SSHURL}, err
}

// gitlabNamespace is the id of the group (or user) namespace nr.Owner names.
func gitlabNamespace(r *run, token string, nr NewRepository) (int64, error) {
	res, err := r.send(http.MethodGet, r.apiBase()+"/namespaces/"+url.PathEscape(nr.Owner), token, nil)
	if err != nil || res.status != http.StatusOK {
		return 0, refused(creating(nr)+" (looking up the namespace "+nr.Owner+")", "the api scope, and membership of "+nr.Owner, res, err)
	}
	var ns struct {
		ID int64 `json:"id"`
	}
	return ns.ID, decoded(creating(nr), res, &ns)
}

func gitlabProject(r *run, repo Repository) string {
	return r.apiBase() + "/projects/" + url.PathEscape(repo.Owner+"/"+repo.Name)
}

func gitlabHook(r *run, token string, repo Repository, hookURL, secret string) error {
	res, err := r.send(http.MethodPost, gitlabProject(r, repo)+"/hooks", token, map[string]any{"url": hookURL, "push_events": true,
		"token": secret, "enable_ssl_verification": true})
	if err != nil || res.status != http.StatusCreated {
		return refused("add the push webhook to "+repo.Owner+"/"+repo.Name, "the api scope and the Maintainer role in the project", res, err)
	}
	return nil
}

func gitlabDelete(r *run, token string, repo Repository) error {
	res, err := r.send(http.MethodDelete, gitlabProject(r, repo), token, nil)
	if err != nil || (res.status != http.StatusAccepted && res.status != http.StatusNoContent && res.status != http.StatusNotFound) {
		return refused("delete the repository "+repo.Owner+"/"+repo.Name, "the Owner role in the project", res, err)
	}
	return nil
}

// ---- Bitbucket Cloud: POST /repositories/{workspace}/{slug} ----------------------------------

func bitbucketCloudRepo(r *run, owner, name string) string {
	return r.apiBase() + "/repositories/" + url.PathEscape(owner) + "/" + url.PathEscape(name)
}

func bitbucketCloudCreate(r *run, token string, nr NewRepository) (Repository, error) {
	res, err := r.send(http.MethodPost, bitbucketCloudRepo(r, nr.Owner, nr.Name), token,
		map[string]any{"scm": "git", "is_private": true, "description": nr.Description})
	switch {
	case err == nil && res.status == http.StatusBadRequest && strings.Contains(hostSaid(res), "already exists"):
		return Repository{}, taken(creating(nr), res)
	case err != nil || (res.status != http.StatusOK && res.status != http.StatusCreated):
		return Repository{}, refused(creating(nr), "the repository:admin scope, and permission to create repositories in "+
			"the workspace "+nr.Owner, res, err)
	}
	var answer struct {
		cloneLinks
		Slug      string `json:"slug"`
		Workspace struct {
			Slug string `json:"slug"`
		} `json:"workspace"`
	}
	if err := decoded(creating(nr), res, &answer); err != nil {
		return Repository{}, err
	}
	repo := Repository{Owner: answer.Workspace.Slug, Name: answer.Slug}
	repo.HTTPSURL, repo.SSHURL = answer.urls()
	return repo, nil
}

func bitbucketCloudHook(r *run, token string, repo Repository, hookURL, secret string) error {
	res, err := r.send(http.MethodPost, bitbucketCloudRepo(r, repo.Owner, repo.Name)+"/hooks", token, map[string]any{
		"description": "scmadmin builds", "url": hookURL, "active": true, "events": []string{"repo:push"}, "secret": secret})
	if err != nil || res.status != http.StatusCreated {
		return refused("add the push webhook to "+repo.Owner+"/"+repo.Name, "the webhook scope and admin rights on the repository", res, err)
	}
	return nil
}

func bitbucketCloudDelete(r *run, token string, repo Repository) error {
	res, err := r.send(http.MethodDelete, bitbucketCloudRepo(r, repo.Owner, repo.Name), token, nil)
	if err != nil || (res.status != http.StatusNoContent && res.status != http.StatusNotFound) {
		return refused("delete the repository "+repo.Owner+"/"+repo.Name, "the repository:delete scope, which the connection does not "+
			"ask for: delete it on the host by hand, then forget it without purge", res, err)
	}
	return nil
}
