package web

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/web/action"
	"github.com/scmadmin/scmadmin/web/provider"
)

// scmJSON is a configuration as the JSON API shows it: Algorithmia's SCM object. It never
// holds a secret.
type scmJSON struct {
	ID         string            `json:"id"`
	Provider   string            `json:"provider"`
	Name       string            `json:"name"`
	Default    bool              `json:"default"`
	Enabled    bool              `json:"enabled"`
	URLs       *urlsJSON         `json:"urls,omitempty"`
	SCM        map[string]string `json:"scm,omitempty"`
	OAuth      map[string]string `json:"oauth,omitempty"`
	CreatedAt  time.Time         `json:"created_at"`
	UpdatedAt  time.Time         `json:"updated_at"`
	LastTest   *lastTestJSON     `json:"last_test,omitempty"`
	WebhookURL string            `json:"webhook_url,omitempty"`
	// ManagedBy is the configuration file that manages it: then only that file changes it.
	ManagedBy string `json:"managed_by,omitempty"`
	// Notes are what a create or an update noticed about the values without refusing them.
	Notes []string `json:"notes,omitempty"`
}

type urlsJSON struct {
	Web string `json:"web"`
	API string `json:"api"`
	SSH string `json:"ssh"`
}

type lastTestJSON struct {
	At      time.Time `json:"at"`
	Passed  bool      `json:"passed"`
	Summary string    `json:"summary"`
	// Health is passed, warning or failing; FailingSince when the failures in a row began.
	Health       store.Health `json:"health"`
	FailingSince *time.Time   `json:"failing_since,omitempty"`
}

// toJSON is cfg as the API shows it.
func (s *server) toJSON(cfg store.SCMConfig) scmJSON {
	j := scmJSON{ID: cfg.Ref, Provider: cfg.Provider, Name: cfg.Name, Default: cfg.IsDefault, Enabled: cfg.Enabled,
		CreatedAt: cfg.CreatedAt.UTC(), UpdatedAt: cfg.UpdatedAt.UTC(), ManagedBy: cfg.ManagedBy}
	p, _ := provider.Lookup(cfg.Provider)
	if p == nil || !p.Selectable() {
		return j
	}
	j.URLs = &urlsJSON{Web: cfg.WebsiteURL, API: cfg.APIURL, SSH: cfg.SSHURL}
	identity := map[string]string{p.Identity: cfg.Value(p.Identity)}
	j.SCM, j.OAuth = identity, identity
	if !cfg.LastTest.At.IsZero() {
		j.LastTest = &lastTestJSON{At: cfg.LastTest.At.UTC(), Passed: cfg.LastTest.Passed, Summary: cfg.LastTest.Summary,
			Health: cfg.LastTest.Health()}
		if since := cfg.LastTest.FailingSince; !since.IsZero() {
			since = since.UTC()
			j.LastTest.FailingSince = &since
		}
	}
	if p.Webhook != nil {
		j.WebhookURL = s.webhookURL(cfg.Ref)
	}
	return j
}

// buildJSON is a build as GET /v1/builds lists it and the build hook sends it.
type buildJSON struct {
	ID         string    `json:"id"`
	SCMID      string    `json:"scm_id"`
	Repository string    `json:"repository"`
	Commit     string    `json:"commit"`
	Actor      string    `json:"actor"`
	Trigger    string    `json:"trigger"`
	CreatedAt  time.Time `json:"created_at"`
}

// toBuildJSON is b, whose ConfigRef is set, as the API shows it.
func toBuildJSON(b store.Build) buildJSON {
	return buildJSON{ID: strconv.FormatInt(b.ID, 10), SCMID: b.ConfigRef, Repository: b.Repository, Commit: b.Commit,
		Actor: b.Actor, Trigger: b.Trigger, CreatedAt: b.CreatedAt.UTC()}
}

// scmRequest is the body of a create (every member) or an update (enabled, name, urls and
// the credentials).
type scmRequest struct {
	ID       *string          `json:"id"`
	Provider *string          `json:"provider"`
	Name     *string          `json:"name"`
	Enabled  *bool            `json:"enabled"`
	URLs     *urlsRequest     `json:"urls"`
	SCM      *credentialsJSON `json:"scm"`
	OAuth    *credentialsJSON `json:"oauth"`
}

type urlsRequest struct {
	Web *string `json:"web"`
	API *string `json:"api"`
	SSH *string `json:"ssh"`
}

// credentialsJSON are the credentials under their form names, in `scm` or `oauth`.
type credentialsJSON struct {
	ClientID     *string `json:"client_id"`
	ClientSecret *string `json:"client_secret"`
	ProjectKey   *string `json:"project_key"`
	AccessToken  *string `json:"access_token"`
}

// providerAliases are Algorithmia's names of providers.
var providerAliases = map[string]string{"bitbucket": "bitbucket_server_api", "bitbucket-cloud": "bitbucket_cloud"}

// fields are the request's values by form field name; a member not given is absent. A
// credential may be given in scm, in oauth or in both, with one value (400 with code, naming
// it, when the two differ beyond spaces, and for the project key case); an empty one gives
// none, as clients that send every member, "" for those unused, mean it.
func (r scmRequest) fields(code int) (url.Values, error) {
	v := url.Values{}
	set := func(name string, s *string) {
		if s != nil {
			v.Set(name, *s)
		}
	}
	set(store.FieldName, r.Name)
	if r.URLs != nil {
		set(store.FieldWebsiteURL, r.URLs.Web)
		set(store.FieldAPIURL, r.URLs.API)
		set(store.FieldSSHURL, r.URLs.SSH)
	}
	for _, c := range []*credentialsJSON{r.SCM, r.OAuth} {
		if c == nil {
			continue
		}
		for _, m := range []struct {
			name string
			s    *string
		}{{store.FieldClientID, c.ClientID}, {store.FieldClientSecret, c.ClientSecret},
			{store.FieldProjectKey, c.ProjectKey}, {store.FieldAccessToken, c.AccessToken}} {
			if m.s == nil || strings.TrimSpace(*m.s) == "" {
				continue
			}
			if given := v.Get(m.name); given != "" && !sameCredential(m.name, given, *m.s) {
				return nil, badRequest(code, m.name, fmt.Sprintf("scm.%[1]s and oauth.%[1]s differ: give it once, or the same in both.", m.name))
			}
			set(m.name, m.s)
		}
	}
	return v, nil
}

// sameCredential reports whether a and b are one value of credential name, as validation
// will read them: spaces around ignored, a project key in any case.
func sameCredential(name, a, b string) bool {
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	return a == b || (name == store.FieldProjectKey && strings.EqualFold(a, b))
}

// jsonMemberFields name the form field that a JSON member holds, for errors.
var jsonMemberFields = map[string]string{"urls.web": store.FieldWebsiteURL, "urls.api": store.FieldAPIURL,
	"urls.ssh": store.FieldSSHURL}

// apiError is a refusal as the API answers it: {"error": {"code", "message", "fields"}}.
type apiError struct {
	Status  int               `json:"-"`
	Code    int               `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

func (e *apiError) Error() string { return e.Message }

func badRequest(code int, field, msg string) *apiError {
	e := &apiError{Status: http.StatusBadRequest, Code: code, Message: msg}
	if field != "" {
		e.Fields = map[string]string{field: msg}
	}
	return e
}

// maxAPIBody is the largest request body the API reads; tooLarge says so to a larger one,
// whether the body limit or the decoder finds it.
const (
	maxAPIBody = 1 << 20
	tooLarge   = "The body is larger than 1 MiB."
)

// decodeJSON reads the request's JSON body into v: JSON only (415), at most 1 MiB (413), no
// member v does not name (400, naming it), no value of the wrong type (400, naming it).
// code is the envelope's code for a 400.
func decodeJSON(c echo.Context, code int, v any) error {
	if mt, _, _ := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType)); mt != echo.MIMEApplicationJSON {
		return &apiError{Status: http.StatusUnsupportedMediaType, Code: http.StatusUnsupportedMediaType,
			Message: "Send the body as JSON, with Content-Type: application/json."}
	}
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, maxAPIBody+1))
	if err != nil {
		return badRequest(code, "", "The body could not be read.")
	}
	if len(body) > maxAPIBody {
		return &apiError{Status: http.StatusRequestEntityTooLarge, Code: http.StatusRequestEntityTooLarge, Message: tooLarge}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(code, err)
	}
	if dec.More() {
		return badRequest(code, "", "The body holds more than one JSON value.")
	}
	return nil
}

// decodeError says in plain words what is wrong with a body that does not decode.
func decodeError(code int, err error) *apiError {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		field := typeErr.Field
		if f, ok := jsonMemberFields[field]; ok {
			field = f
		}
		subject := cmp.Or(typeErr.Field, "The body")
		return badRequest(code, field, fmt.Sprintf("%s must be %s, not %s.", subject, jsonKind(typeErr.Type.Kind()), jsonValue(typeErr.Value)))
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		return badRequest(code, name, fmt.Sprintf("%q is not a member this request takes.", name))
	}
	return badRequest(code, "", "The body is not valid JSON: "+strings.TrimPrefix(err.Error(), "json: ")+".")
}

// jsonKind is what JSON a Go value of kind k decodes from, in words.
func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	default:
		return "a number"
	}
}

// jsonValue is the kind of JSON value encoding/json names ("bool", "number 4.5", "array" …),
// in words.
func jsonValue(v string) string {
	switch word, _, _ := strings.Cut(v, " "); word {
	case "bool":
		return "true or false"
	case "array", "object":
		return "an " + word
	default:
		return "a " + word
	}
}

// codeManaged is the code of a change refused because a configuration file manages the
// configuration.
const codeManaged = 4050

// refusalCodes are the API's codes of the rules' refusals, with their status.
var refusalCodes = []struct {
	rule   error
	status int
	code   int
}{
	{store.ErrNotFound, http.StatusNotFound, 4009},
	{store.ErrDeleteEnabled, http.StatusConflict, 4040},
	{store.ErrDisableDefault, http.StatusConflict, 4041},
	{store.ErrDefaultDisabled, http.StatusConflict, 4042},
	{store.ErrHostsRepositories, http.StatusConflict, 4043},
	{store.ErrDuplicate, http.StatusConflict, 4044},
	{store.ErrIDTaken, http.StatusConflict, 4044},
	{store.ErrDeleteBuiltIn, http.StatusConflict, 4045},
	{store.ErrManaged, http.StatusConflict, codeManaged},
	{action.ErrBuiltIn, http.StatusConflict, 4045},
	{action.ErrNotOAuth, http.StatusConflict, http.StatusConflict},
	{action.ErrNotConnected, http.StatusConflict, http.StatusConflict},
	{action.ErrDisabled, http.StatusConflict, http.StatusConflict},
	{action.ErrBuildsFromPushes, http.StatusConflict, http.StatusConflict},
	{action.ErrNoRepository, http.StatusNotFound, 4010},
	{action.ErrRepositoryExists, http.StatusConflict, 4046},
	{action.ErrHost, http.StatusBadGateway, http.StatusBadGateway},
}

// apiRefusal is r as the API answers it; invalidCode is the code of a validation failure.
func apiRefusal(r *action.Refusal, invalidCode int) *apiError {
	for _, rc := range refusalCodes {
		if errors.Is(r, rc.rule) {
			return &apiError{Status: rc.status, Code: rc.code, Message: r.Message, Fields: r.Fields}
		}
	}
	return &apiError{Status: http.StatusBadRequest, Code: invalidCode, Message: r.Message, Fields: r.Fields}
}

// answerAPIError answers err with the error envelope: an API error as it is, a refusal
// mapped to its code, an HTTP error with its status, and anything else as a 500 that says
// where the details are.
func (s *server) answerAPIError(c echo.Context, err error) {
	var ae *apiError
	var he *echo.HTTPError
	switch r, refused := action.AsRefusal(err); {
	case errors.As(err, &ae):
	case refused:
		ae = apiRefusal(r, http.StatusBadRequest)
	case errors.As(err, &he):
		msg, ok := he.Message.(string)
		if !ok {
			msg = http.StatusText(he.Code)
		}
		if he.Code == http.StatusRequestEntityTooLarge {
			msg = tooLarge
		}
		ae = &apiError{Status: he.Code, Code: he.Code, Message: msg}
	default:
		s.log.Error("request failed", "request_id", c.Response().Header().Get(echo.HeaderXRequestID), "route", c.Path(), "err", err)
		ae = &apiError{Status: http.StatusInternalServerError, Code: http.StatusInternalServerError,
			Message: "scmadmin could not complete this request; the server log has the details under request id " +
				c.Response().Header().Get(echo.HeaderXRequestID) + "."}
	}
	c.JSON(ae.Status, map[string]*apiError{"error": ae})
}
