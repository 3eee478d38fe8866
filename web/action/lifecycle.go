package action

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/scmadmin/scmadmin/store"
)

// Done is what a lifecycle action did: to which configuration (as it was before), in words.
type Done struct {
	Config  store.SCMConfig
	Message string
}

// MakeDefault makes configuration id the default for new algorithms.
func (a *Actions) MakeDefault(ctx context.Context, by store.Actor, id string) (Done, error) {
	return a.lifecycle(ctx, id, func(c store.SCMConfig) (string, error) {
		_, err := a.st.MakeDefault(ctx, c.ID, by)
		return "“" + c.DisplayName() + "” is now the default for new algorithms.", err
	})
}

// Enable enables configuration id.
func (a *Actions) Enable(ctx context.Context, by store.Actor, id string) (Done, error) {
	return a.lifecycle(ctx, id, func(c store.SCMConfig) (string, error) {
		return "Enabled “" + c.DisplayName() + "”.", a.st.SetEnabled(ctx, c.ID, true, by)
	})
}

// Disable disables configuration id: no new algorithm can be created in it.
func (a *Actions) Disable(ctx context.Context, by store.Actor, id string) (Done, error) {
	return a.lifecycle(ctx, id, func(c store.SCMConfig) (string, error) {
		return "Disabled “" + c.DisplayName() + "”: no new algorithm can be created in it.", a.st.SetEnabled(ctx, c.ID, false, by)
	})
}

// Delete deletes configuration id.
func (a *Actions) Delete(ctx context.Context, by store.Actor, id string) (Done, error) {
	return a.lifecycle(ctx, id, func(c store.SCMConfig) (string, error) {
		return "Deleted “" + c.DisplayName() + "”.", a.st.DeleteSCMConfig(ctx, c.ID, by)
	})
}

// CheckDelete returns configuration id when it could be deleted now, or the Refusal a delete
// would meet: to ask for confirmation only of a delete that can happen.
func (a *Actions) CheckDelete(ctx context.Context, id string) (store.SCMConfig, error) {
	return a.checkRule(ctx, id, func(c store.SCMConfig) error { return cmp.Or(c.CanChange(), c.CanDelete()) })
}

// CheckDisable returns configuration id when it could be disabled now, or the Refusal.
func (a *Actions) CheckDisable(ctx context.Context, id string) (store.SCMConfig, error) {
	return a.checkRule(ctx, id, func(c store.SCMConfig) error { return cmp.Or(c.CanChange(), c.CanDisable()) })
}

// CheckChange returns configuration id when the pages and the API may change it, or the
// Refusal (a configuration file manages it).
func (a *Actions) CheckChange(ctx context.Context, id string) (store.SCMConfig, error) {
	return a.checkRule(ctx, id, store.SCMConfig.CanChange)
}

// checkRule returns configuration id when rule allows an action on it now, or rule's Refusal.
func (a *Actions) checkRule(ctx context.Context, id string, rule func(store.SCMConfig) error) (store.SCMConfig, error) {
	c, _, err := a.Load(ctx, id)
	if err != nil {
		return c, err
	}
	if err := rule(c); err != nil {
		return c, refusal(c, err)
	}
	return c, nil
}

// lifecycle loads configuration id and applies do to it, unless a configuration file manages
// it; the store's transaction checks the rule again on the row it changes, and its refusal
// comes back as a Refusal.
func (a *Actions) lifecycle(ctx context.Context, id string, do func(store.SCMConfig) (string, error)) (Done, error) {
	c, err := a.CheckChange(ctx, id)
	if err != nil {
		return Done{}, err
	}
	msg, err := do(c)
	if errors.Is(err, store.ErrNotFound) {
		return Done{}, notFound(id)
	}
	if r := refusal(c, err); r != nil {
		return Done{}, r
	}
	if err != nil {
		return Done{}, err
	}
	return Done{Config: c, Message: msg}, nil
}

// refusal says why a lifecycle rule refused an action on c and what to do instead; nil when
// err is no lifecycle rule's.
func refusal(c store.SCMConfig, err error) *Refusal {
	name := "“" + c.DisplayName() + "”"
	r := &Refusal{Rule: err}
	var managed *store.ManagedError
	switch {
	case errors.As(err, &managed) && managed.Config != c.DisplayName():
		// Making c the default would unset the default, which a file manages.
		r.Message = fmt.Sprintf("The default, “%s”, is managed by the configuration file %s, and making %s the default "+
			"would change it: choose the default in that file (default: true), which is applied when the server starts, "+
			"on SIGHUP, or with scmadmin apply -f %s.", managed.Config, managed.File, name, managed.File)
	case errors.As(err, &managed):
		r.Message = fmt.Sprintf("“%s” is managed by the configuration file %s: change it in that file, which is applied "+
			"when the server starts, on SIGHUP, or with scmadmin apply -f %s.", managed.Config, managed.File, managed.File)
	case errors.Is(err, store.ErrDisableDefault):
		r.Message = name + " is the default and cannot be disabled. Make another configuration the default first."
	case errors.Is(err, store.ErrDefaultDisabled):
		r.Message = name + " is disabled and cannot become the default. Enable it first."
	case errors.Is(err, store.ErrDeleteEnabled) && c.IsDefault:
		r.Message = name + " is the default and enabled, so it cannot be deleted. Make another configuration the default, " +
			"then disable this one, then delete it."
	case errors.Is(err, store.ErrDeleteEnabled):
		r.Message = name + " is enabled and cannot be deleted. Disable it first."
	case errors.Is(err, store.ErrDeleteBuiltIn):
		r.Message = "The built-in configuration always exists and cannot be deleted."
	case errors.Is(err, store.ErrHostsRepositories):
		repos := fmt.Sprintf("%d algorithm repositories", c.Repositories)
		if c.Repositories == 1 {
			repos = "an algorithm repository"
		}
		r.Message = name + " still hosts " + repos + " and cannot be deleted. Keep it disabled instead: " +
			"no new algorithm can be created in it. Once their algorithms are gone, forgetting its repositories " +
			"(DELETE /v1/scms/" + c.Ref + "/repositories/NAME, as the platform does) lets it be deleted."
	default:
		return nil
	}
	return r
}
