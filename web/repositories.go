package web

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/web/action"
)

// The algorithm repositories the platform creates through scmadmin (SPEC "Algorithm
// repositories and builds"): /v1/scms/{id}/repositories.

// codeRepositoryInvalid is the envelope's code of a repository request that fails validation.
const codeRepositoryInvalid = 4022

// repositoryRequest is the body of POST /v1/scms/{id}/repositories.
type repositoryRequest struct {
	Name        string `json:"name"`
	Owner       string `json:"owner"`
	Description string `json:"description"`
}

// repositoryJSON is a repository as the API shows it: the `source` members of Algorithmia's
// algorithms, and who asked for it.
type repositoryJSON struct {
	Owner     string    `json:"repository_owner"`
	Name      string    `json:"repository_name"`
	HTTPSURL  string    `json:"repository_https_url"`
	SSHURL    string    `json:"repository_ssh_url"`
	SCM       scmJSON   `json:"scm"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
}

func (s *server) repositoryJSON(cfg store.SCMConfig, r store.Repository) repositoryJSON {
	return repositoryJSON{Owner: r.Owner, Name: r.Name, HTTPSURL: r.HTTPSURL, SSHURL: r.SSHURL, SCM: s.toJSON(cfg),
		CreatedAt: r.CreatedAt.UTC(), CreatedBy: r.CreatedBy}
}

// createRepositoryJSON is POST /v1/scms/{id}/repositories: 201 with the repository made on the
// configuration's host.
func (s *server) createRepositoryJSON(c echo.Context) error {
	var req repositoryRequest
	if err := decodeJSON(c, codeRepositoryInvalid, &req); err != nil {
		return err
	}
	created, err := s.actions.CreateRepository(c.Request().Context(), s.caller(c), configID(c), action.RepositoryInput(req))
	if r, ok := action.AsRefusal(err); ok {
		return apiRefusal(r, codeRepositoryInvalid)
	} else if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, s.repositoryJSON(created.Config, created.Repository))
}

// listRepositoriesJSON is GET /v1/scms/{id}/repositories: oldest first, a page at a time.
func (s *server) listRepositoriesJSON(c echo.Context) error {
	limit, after, err := parsePaging(c.QueryParams())
	if err != nil {
		return err
	}
	cfg, repos, err := s.actions.Repositories(c.Request().Context(), configID(c), after, limit+1)
	if err != nil {
		return err
	}
	answer := struct {
		Results  []repositoryJSON `json:"results"`
		Marker   string           `json:"marker,omitempty"`
		NextLink string           `json:"next_link,omitempty"`
	}{Results: make([]repositoryJSON, 0, min(len(repos), limit))}
	for _, r := range repos[:min(len(repos), limit)] {
		answer.Results = append(answer.Results, s.repositoryJSON(cfg, r))
	}
	if len(repos) > limit {
		answer.Marker = strconv.FormatInt(repos[limit-1].ID, 10)
		answer.NextLink = s.baseURL + "/v1/scms/" + url.PathEscape(cfg.Ref) + "/repositories?" +
			url.Values{"limit": {strconv.Itoa(limit)}, "marker": {answer.Marker}}.Encode()
	}
	return c.JSON(http.StatusOK, answer)
}

// forgetRepositoryJSON is DELETE /v1/scms/{id}/repositories/{name}: 204 once forgotten, and
// with ?purge=true deleted on the host too.
func (s *server) forgetRepositoryJSON(c echo.Context) error {
	purge := false
	if v := c.QueryParam("purge"); v != "" {
		var err error
		if purge, err = strconv.ParseBool(v); err != nil {
			return badRequest(http.StatusBadRequest, "purge", "purge must be true or false.")
		}
	}
	if err := s.actions.ForgetRepository(c.Request().Context(), s.caller(c), configID(c), c.Param("name"), purge); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// codeBuildInvalid is the envelope's code of a build request that fails validation: a
// repository that is not registered, a commit that is not 40 hex digits.
const codeBuildInvalid = 4023

// buildRequest is the body of POST /v1/scms/{id}/builds.
type buildRequest struct {
	Repository string `json:"repository"`
	Commit     string `json:"commit"`
}

// startBuildJSON is POST /v1/scms/{id}/builds (build-via-API): 202 with the build started, or
// 200 with the one an earlier call started for the same commit of the same repository.
func (s *server) startBuildJSON(c echo.Context) error {
	var req buildRequest
	if err := decodeJSON(c, codeBuildInvalid, &req); err != nil {
		return err
	}
	started, err := s.actions.StartBuild(c.Request().Context(), s.caller(c), configID(c), action.BuildInput(req))
	if r, ok := action.AsRefusal(err); ok {
		return apiRefusal(r, codeBuildInvalid)
	} else if err != nil {
		return err
	}
	status := http.StatusOK
	if started.New {
		status = http.StatusAccepted
	}
	return c.JSON(status, toBuildJSON(started.Build))
}
