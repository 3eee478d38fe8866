package web

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/web/action"
)

// The envelope codes of a body that fails on create and on update.
const (
	codeCreateInvalid = 4020
	codeUpdateInvalid = 4021
)

// List paging of the API: at most 1,000 a page, and all of them by default.
const maxAPILimit = 1000

// maxCachedAPIAnswers bounds the API's encoded answers kept: pages and single
// configurations the platform asks for again and again.
const maxCachedAPIAnswers = 256

// listSCMs is GET /v1/scms: the built-in one first, then by creation, a page at a time.
func (s *server) listSCMs(c echo.Context) error {
	limit, after, err := parsePaging(c.QueryParams())
	if err != nil {
		return err
	}
	key := fmt.Sprintf("list %d %d", limit, after)
	return s.answerCached(c, key, func(ctx context.Context) (any, error) { return s.readPage(ctx, limit, after) })
}

// scmPage is a page of GET /v1/scms.
type scmPage struct {
	Results  []scmJSON `json:"results"`
	Marker   string    `json:"marker,omitempty"`
	NextLink string    `json:"next_link,omitempty"`
}

// readPage reads the page of at most limit configurations after the one with key after.
func (s *server) readPage(ctx context.Context, limit int, after int64) (any, error) {
	configs, err := s.st.SCMConfigsAfter(ctx, after, limit+1)
	if err != nil {
		return nil, err
	}
	page := scmPage{Results: make([]scmJSON, 0, min(len(configs), limit))}
	for _, cfg := range configs[:min(len(configs), limit)] {
		page.Results = append(page.Results, s.toJSON(cfg))
	}
	if len(configs) > limit {
		page.Marker = strconv.FormatInt(configs[limit-1].ID, 10)
		page.NextLink = s.baseURL + "/v1/scms?" + url.Values{"limit": {strconv.Itoa(limit)}, "marker": {page.Marker}}.Encode()
	}
	return page, nil
}

// answerCached answers 200 with the JSON of what read returns, encoded once and kept while
// the configurations are unchanged.
func (s *server) answerCached(c echo.Context, key string, read func(context.Context) (any, error)) error {
	body, err := s.apiAnswers.load(c.Request().Context(), s.versions.read, key, func(ctx context.Context) ([]byte, error) {
		v, err := read(ctx)
		if err != nil {
			return nil, err
		}
		return json.Marshal(v)
	})
	if err != nil {
		return err
	}
	return c.JSONBlob(http.StatusOK, body)
}

// parsePaging reads ?limit (1–1000, default 1000) and ?marker (what a page's marker said).
func parsePaging(q url.Values) (limit int, after int64, err error) {
	limit = maxAPILimit
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > maxAPILimit {
			return 0, 0, badRequest(http.StatusBadRequest, "limit", "limit must be a whole number from 1 to 1000.")
		}
	}
	if v := q.Get("marker"); v != "" {
		if after, err = strconv.ParseInt(v, 10, 64); err != nil || after < 0 {
			return 0, 0, badRequest(http.StatusBadRequest, "marker", "marker must be the marker of a page, as it was given.")
		}
	}
	return limit, after, nil
}

// showSCMJSON is GET /v1/scms/{id}.
func (s *server) showSCMJSON(c echo.Context) error {
	return s.answerCached(c, "scm "+configID(c), func(ctx context.Context) (any, error) {
		cfg, _, err := s.actions.Load(ctx, configID(c))
		return s.toJSON(cfg), err
	})
}

// createSCMJSON is POST /v1/admin/scms.
func (s *server) createSCMJSON(c echo.Context) error {
	var req scmRequest
	if err := decodeJSON(c, codeCreateInvalid, &req); err != nil {
		return err
	}
	fields, err := req.fields(codeCreateInvalid)
	if err != nil {
		return err
	}
	in := action.Input{Fields: fields, Disabled: req.Enabled != nil && !*req.Enabled, Exact: true}
	if req.Provider != nil {
		in.Provider = *req.Provider
		if alias, ok := providerAliases[in.Provider]; ok {
			in.Provider = alias
		}
	}
	if req.ID != nil {
		in.ID = *req.ID
	}
	created, err := s.actions.Create(c.Request().Context(), apiActor(c), in)
	if r, ok := action.AsRefusal(err); ok {
		return apiRefusal(r, codeCreateInvalid)
	} else if err != nil {
		return err
	}
	answer := s.toJSON(created.Config)
	answer.Notes = created.Notes
	return c.JSON(http.StatusCreated, answer)
}

// updateSCMJSON is PATCH /v1/admin/scms/{id}: enabled, name, the three URLs together, and
// credentials; the provider and the project key cannot change.
func (s *server) updateSCMJSON(c echo.Context) error {
	var req scmRequest
	if err := decodeJSON(c, codeUpdateInvalid, &req); err != nil {
		return err
	}
	if err := checkPatch(req); err != nil {
		return err
	}
	cfg, notes, err := s.patchSCM(c, req)
	if r, ok := action.AsRefusal(err); ok {
		return apiRefusal(r, codeUpdateInvalid)
	} else if err != nil {
		return err
	}
	answer := s.toJSON(cfg)
	answer.Notes = notes
	return c.JSON(http.StatusOK, answer)
}

// checkPatch refuses what an update cannot change, and URLs not given together.
func checkPatch(req scmRequest) error {
	switch {
	case req.ID != nil:
		return badRequest(codeUpdateInvalid, "id", "A configuration's id cannot change.")
	case req.Provider != nil:
		return badRequest(codeUpdateInvalid, "provider", "A configuration's provider cannot change: create another.")
	case req.URLs != nil && (req.URLs.Web == nil || req.URLs.API == nil || req.URLs.SSH == nil):
		return badRequest(codeUpdateInvalid, "urls", "Give the three URLs together: web, api and ssh.")
	}
	return nil
}

// patchSCM applies req to the configuration the :id names: a refused disable before any
// change, then the values, then enabled.
func (s *server) patchSCM(c echo.Context, req scmRequest) (cfg store.SCMConfig, notes []string, err error) {
	ctx, by, id := c.Request().Context(), apiActor(c), configID(c)
	if cfg, err = s.actions.CheckChange(ctx, id); err != nil {
		return cfg, nil, err
	}
	if req.Enabled != nil && !*req.Enabled {
		if _, err := s.actions.CheckDisable(ctx, id); err != nil {
			return cfg, nil, err
		}
	}
	fields, err := req.fields(codeUpdateInvalid)
	if err != nil {
		return cfg, nil, err
	}
	if len(fields) > 0 {
		saved, err := s.actions.Update(ctx, by, id, action.Input{Fields: fields, Exact: true})
		if err != nil {
			return cfg, nil, err
		}
		cfg, notes = saved.Config, saved.Notes
	}
	if req.Enabled != nil && *req.Enabled != cfg.Enabled {
		do := s.actions.Disable
		if *req.Enabled {
			do = s.actions.Enable
		}
		if _, err := do(ctx, by, id); err != nil {
			return cfg, nil, err
		}
	}
	cfg, _, err = s.actions.Load(ctx, id)
	return cfg, notes, err
}

// deleteSCMJSON is DELETE /v1/admin/scms/{id}.
func (s *server) deleteSCMJSON(c echo.Context) error {
	if _, err := s.actions.Delete(c.Request().Context(), apiActor(c), configID(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// makeDefaultJSON is POST /v1/admin/scms/{id}/default.
func (s *server) makeDefaultJSON(c echo.Context) error {
	if _, err := s.actions.MakeDefault(c.Request().Context(), apiActor(c), configID(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// testSCMJSON is POST /v1/admin/scms/{id}/test: the connection test's checklist.
func (s *server) testSCMJSON(c echo.Context) error {
	_, result, err := s.actions.Test(c.Request().Context(), configID(c), apiActor(c))
	if err != nil {
		return err
	}
	type stepJSON struct {
		Step   string `json:"step"`
		Status string `json:"status"`
		Title  string `json:"title"`
		Detail string `json:"detail"`
	}
	answer := struct {
		Passed bool       `json:"passed"`
		Steps  []stepJSON `json:"steps"`
	}{Passed: result.Passed(), Steps: []stepJSON{}}
	for _, st := range result.Steps {
		answer.Steps = append(answer.Steps, stepJSON{Step: st.ID, Status: string(st.Status), Title: st.Title, Detail: st.Detail})
	}
	return c.JSON(http.StatusOK, answer)
}

//go:embed openapi.json
var openAPIDocument []byte

// openAPI is GET /v1/openapi.json: the OpenAPI 3 document of every /v1 route.
func (s *server) openAPI(c echo.Context) error {
	return c.JSONBlob(http.StatusOK, openAPIDocument)
}
