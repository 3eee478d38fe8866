// Package action is the one operation of each action on a configuration: create, update,
// make default, enable, disable, delete, test, connect, and create or forget a repository.
// The pages and the JSON API both parse their input into an Input, call the operation, and
// render its result or its Refusal: a rule is decided here, never by a front end.
package action

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/web/probe"
	"github.com/scmadmin/scmadmin/web/provider"
)

// Actions runs the operations. It is safe for concurrent use.
type Actions struct {
	st      *store.Store
	checker *probe.Checker
	log     *slog.Logger
	// tested is told of every connection test run, for the metrics.
	tested func(providerID string, r probe.Result)
	// hookURL is the address of configuration ref's webhook, BASE_URL/hooks/scm/{ref}.
	hookURL func(ref string) string
}

// New returns the operations over st, testing connections with checker; hosts deliver pushes
// to hookURL(ref).
func New(st *store.Store, checker *probe.Checker, log *slog.Logger, tested func(providerID string, r probe.Result),
	hookURL func(ref string) string) *Actions {
	return &Actions{st: st, checker: checker, log: log, tested: tested, hookURL: hookURL}
}

// Input is a configuration's values as a front end received them, by form field name. On
// update a field that is absent keeps its stored value, and so does an empty secret.
type Input struct {
	Provider string // on create (and Test before saving of a new one)
	Fields   url.Values
	// On create: the vanity id (none: the server gives one), and whether it starts disabled.
	ID       string
	Disabled bool
	// Exact: every field given must be one the provider takes, and a fixed one (the project
	// key) its stored value (see provider.Exact); the API's members are assertions, where a
	// form carries other providers' fields and shows fixed ones read-only.
	Exact bool
}

// Refusal is why an action was not taken: the rule that refused it (a store lifecycle
// error, ErrInvalid, ErrBuiltIn, store.ErrNotFound or store.ErrDuplicate), in plain words
// with what to do, and the fields at fault.
type Refusal struct {
	Rule    error
	Message string
	Fields  provider.Errors
	// Clash is the configuration a duplicate clashes with, when it is known.
	Clash *store.SCMConfig
}

func (r *Refusal) Error() string { return r.Message }

func (r *Refusal) Unwrap() error { return r.Rule }

// Rules that refuse besides the store's.
var (
	ErrInvalid = errors.New("action: a value fails validation")
	ErrBuiltIn = errors.New("action: the built-in configuration has no settings to edit and no connection to test")
)

// AsRefusal returns the Refusal in err's chain.
func AsRefusal(err error) (*Refusal, bool) {
	var r *Refusal
	return r, errors.As(err, &r)
}

func notFound(id string) *Refusal {
	return &Refusal{Rule: store.ErrNotFound, Message: fmt.Sprintf("There is no configuration %q: it may have been deleted.", id)}
}

// invalid refuses values that fail validation.
func invalid(errs provider.Errors) *Refusal {
	msg := "Correct the field marked."
	if len(errs) > 1 {
		msg = fmt.Sprintf("Correct the %d fields marked.", len(errs))
	}
	return &Refusal{Rule: ErrInvalid, Message: msg, Fields: errs}
}

// Load returns the configuration whose id is id, and its provider; a Refusal
// (store.ErrNotFound) when there is none.
func (a *Actions) Load(ctx context.Context, id string) (store.SCMConfig, *provider.Provider, error) {
	cfg, err := a.st.SCMConfigByRef(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.SCMConfig{}, nil, notFound(id)
	}
	if err != nil {
		return store.SCMConfig{}, nil, err
	}
	p, ok := provider.Lookup(cfg.Provider)
	if !ok {
		return store.SCMConfig{}, nil, fmt.Errorf("action: configuration %d has unknown provider %q", cfg.ID, cfg.Provider)
	}
	return cfg, p, nil
}

// LoadHosted is Load for a configuration of an outside host (not the built-in one).
func (a *Actions) LoadHosted(ctx context.Context, id string) (store.SCMConfig, *provider.Provider, error) {
	cfg, p, err := a.Load(ctx, id)
	if err == nil && !p.Selectable() {
		err = &Refusal{Rule: ErrBuiltIn, Message: "The built-in configuration is hosted by the platform itself: " +
			"it has no settings to edit and no connection to test."}
	}
	return cfg, p, err
}

// NewWebhookSecret returns 32 random bytes, hex-encoded: what hosts sign deliveries with.
func NewWebhookSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}
