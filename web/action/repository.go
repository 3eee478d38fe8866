package action

import (
	"cmp"
	"context"
	"errors"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/web/probe"
	"github.com/scmadmin/scmadmin/web/provider"
)

// Algorithm repositories: the platform asks scmadmin to create each algorithm's repository on
// a configuration's host, with credentials it never hands out.

// Rules that refuse a repository.
var (
	// ErrRepositoryExists refuses a name the host or the configuration has already.
	ErrRepositoryExists = errors.New("action: a repository of that name exists")
	// ErrNoRepository refuses forgetting a repository the configuration does not have.
	ErrNoRepository = errors.New("action: no such repository")
	// ErrHost is the host refusing a call about a repository, or not answering.
	ErrHost = errors.New("action: the host refused")
)

// RepositoryInput is a repository the platform asks for: its name, who holds it on the host
// ("" for the default: the project, or the connected account), and a description.
type RepositoryInput struct {
	Name, Owner, Description string
}

// CreatedRepository is a repository made on a configuration's host and registered.
type CreatedRepository struct {
	Config     store.SCMConfig
	Repository store.Repository
}

// CreateRepository creates repository in on configuration id's host, as caller, and registers
// it. Bitbucket Server's is made in the project with the stored token, after its build-on-
// checkin webhook is installed; an OAuth provider's with caller's connected account, then
// given a push webhook to scmadmin signed with the configuration's webhook secret.
func (a *Actions) CreateRepository(ctx context.Context, caller Caller, id string, in RepositoryInput) (CreatedRepository, error) {
	cfg, p, err := a.LoadHosted(ctx, id)
	if err != nil {
		return CreatedRepository{}, err
	}
	if !cfg.Enabled {
		return CreatedRepository{}, refuse(ErrDisabled, "“"+cfg.DisplayName()+"” is disabled: no repository can be created in it. "+
			"Enable it first, or create the repository in another configuration.")
	}
	if errs := checkRepository(in); len(errs) > 0 {
		return CreatedRepository{}, invalid(errs)
	}
	if _, err := a.st.RepositoryByName(ctx, cfg.ID, in.Name); err == nil {
		return CreatedRepository{}, exists(cfg, in.Name)
	} else if !errors.Is(err, store.ErrNotFound) {
		return CreatedRepository{}, err
	}
	acc, err := a.hostAccess(ctx, caller.User, p, cfg)
	if err != nil {
		return CreatedRepository{}, err
	}
	nr, err := acc.newRepository(p, cfg, in)
	if err != nil {
		return CreatedRepository{}, err
	}
	made, err := a.createOnHost(ctx, caller.By, p, cfg, acc, nr)
	if err != nil {
		return CreatedRepository{}, err
	}
	repo, err := a.st.RegisterRepository(ctx, store.Repository{ConfigID: cfg.ID, Owner: made.Owner, Name: made.Name,
		HTTPSURL: made.HTTPSURL, SSHURL: made.SSHURL}, caller.By)
	if errors.Is(err, store.ErrDuplicate) {
		return CreatedRepository{}, exists(cfg, made.Name)
	} else if err != nil {
		return CreatedRepository{}, err
	}
	a.log.Info("repository created", "config", cfg.Ref, "repository", repo.FullName())
	return CreatedRepository{Config: cfg, Repository: repo}, nil
}

// createOnHost makes nr on cfg's host: the webhook secret first (made now for a configuration
// from before every one had one), then Bitbucket Server's project webhook, the repository,
// and an OAuth provider's push webhook on it.
func (a *Actions) createOnHost(ctx context.Context, by store.Actor, p *provider.Provider, cfg store.SCMConfig, acc access,
	nr probe.NewRepository) (probe.Repository, error) {
	var secret string
	if p.PushHooks() {
		var err error
		if secret, err = a.st.EnsureWebhookSecret(ctx, cfg.ID, NewWebhookSecret(), by); err != nil {
			return probe.Repository{}, err
		}
	}
	if p.ProjectHook() {
		if _, err := a.checker.InstallWebhook(ctx, acc.target, a.hookURL(cfg.Ref), secret); err != nil {
			return probe.Repository{}, hostRefusal(err)
		}
		if err := a.st.RecordWebhookInstalled(ctx, cfg.ID, by); err != nil {
			return probe.Repository{}, err
		}
	}
	made, err := a.checker.CreateRepository(ctx, acc.target, acc.token, nr)
	if err != nil {
		return made, hostRefusal(err)
	}
	if p.OAuth != nil {
		if err := a.checker.AddPushHook(ctx, acc.target, acc.token, made, a.hookURL(cfg.Ref), secret); err != nil {
			return made, a.undoCreate(ctx, acc, made, err)
		}
	}
	return made, nil
}

// undoCreate deletes made, which the host refused a webhook, so that asking again can
// succeed; the refusal says whether it is gone or is left on the host.
func (a *Actions) undoCreate(ctx context.Context, acc access, made probe.Repository, hookErr error) error {
	r := hostRefusal(hookErr)
	refusal, ok := AsRefusal(r)
	if !ok {
		return r
	}
	if err := a.checker.DeleteRepository(context.WithoutCancel(ctx), acc.target, acc.token, made); err != nil {
		said, _ := probe.HostMessage(err)
		refusal.Message += " The repository was made without its webhook and could not be deleted again (" + said +
			"): delete it on the host by hand before asking again."
		return refusal
	}
	refusal.Message += " The repository was deleted again on the host, so asking again can succeed."
	return refusal
}

// access is how scmadmin acts on a configuration's host: its target (the configuration and
// its secrets), the token it sends, and the connected account ("" for Bitbucket Server,
// which acts with the configuration's own token).
type access struct {
	target  probe.Target
	token   string
	account string
}

// hostAccess is how scmadmin acts on cfg's host for user: with the connected account's token
// for an OAuth provider (a Refusal, ErrNotConnected, when there is none), else with the
// configuration's access token.
func (a *Actions) hostAccess(ctx context.Context, user store.User, p *provider.Provider, cfg store.SCMConfig) (access, error) {
	secrets, err := a.st.OpenSecrets(ctx, cfg.ID)
	if err != nil {
		return access{}, err
	}
	acc := access{target: Target(p, cfg, secrets), token: secrets[store.FieldAccessToken]}
	if p.OAuth == nil {
		return acc, nil
	}
	conn, tok, err := a.Connection(ctx, user, cfg.Ref)
	acc.token, acc.account = tok.AccessToken, conn.Username
	return acc, err
}

// newRepository is in as the host is asked for it: under the project (Bitbucket Server, where
// another owner is refused), or under in.Owner, by default the connected account.
func (acc access) newRepository(p *provider.Provider, cfg store.SCMConfig, in RepositoryInput) (probe.NewRepository, error) {
	nr := probe.NewRepository{Owner: cmp.Or(in.Owner, acc.account), Name: in.Name, Description: in.Description}
	if p.OAuth != nil {
		nr.OwnerIsUser = strings.EqualFold(nr.Owner, acc.account)
		return nr, nil
	}
	if in.Owner != "" && !strings.EqualFold(in.Owner, cfg.ProjectKey) {
		return nr, invalid(provider.Errors{"owner": "Repositories of “" + cfg.DisplayName() + "” are made in its project " +
			cfg.ProjectKey + ": leave owner out, or give " + cfg.ProjectKey + "."})
	}
	nr.Owner = cfg.ProjectKey
	return nr, nil
}

// hostRefusal is a host's refusal (probe.HostMessage) as a Refusal: ErrRepositoryExists for a
// name it has already, else ErrHost. Any other error is returned as it is.
func hostRefusal(err error) error {
	msg, ok := probe.HostMessage(err)
	switch {
	case !ok:
		return err
	case probe.NameTaken(err):
		return &Refusal{Rule: ErrRepositoryExists, Message: msg, Fields: provider.Errors{"name": msg}}
	}
	return refuse(ErrHost, msg)
}

func exists(cfg store.SCMConfig, name string) *Refusal {
	msg := "“" + cfg.DisplayName() + "” has a repository called " + name + " already: choose another name."
	return &Refusal{Rule: ErrRepositoryExists, Message: msg, Fields: provider.Errors{"name": msg}}
}

var (
	repoName  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)
	repoOwner = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$`)
)

// Limits of a repository's owner and description.
const (
	maxOwnerLen       = 255
	maxDescriptionLen = 1000
)

// checkRepository says what is wrong with in, by member name.
func checkRepository(in RepositoryInput) provider.Errors {
	errs := provider.Errors{}
	switch {
	case in.Name == "":
		errs["name"] = "Give the repository's name."
	case !repoName.MatchString(in.Name) || strings.HasSuffix(strings.ToLower(in.Name), ".git"):
		errs["name"] = "A repository's name is 1 to 100 letters, digits, dots, dashes and underscores, starting with a " +
			"letter or digit, and does not end in .git."
	}
	if in.Owner != "" && (len(in.Owner) > maxOwnerLen || !repoOwner.MatchString(in.Owner)) {
		errs["owner"] = "The owner is the name of an account, organisation, group (group/subgroup) or workspace on the host: " +
			"letters, digits, dots, dashes and underscores."
	}
	if utf8.RuneCountInString(in.Description) > maxDescriptionLen || strings.ContainsFunc(in.Description, unicode.IsControl) {
		errs["description"] = "The description is at most 1,000 characters, on one line."
	}
	return errs
}

// Repositories returns configuration id and up to limit of the repositories it hosts, oldest
// first, from the one after the repository whose ID is after.
func (a *Actions) Repositories(ctx context.Context, id string, after int64, limit int) (store.SCMConfig, []store.Repository, error) {
	cfg, _, err := a.Load(ctx, id)
	if err != nil {
		return cfg, nil, err
	}
	repos, err := a.st.Repositories(ctx, cfg.ID, after, limit)
	return cfg, repos, err
}

// ForgetRepository forgets configuration id's repository called name; purge deletes it on the
// host first, as caller (a host's refusal leaves it registered).
func (a *Actions) ForgetRepository(ctx context.Context, caller Caller, id, name string, purge bool) error {
	cfg, p, err := a.Load(ctx, id)
	if err != nil {
		return err
	}
	repo, err := a.st.RepositoryByName(ctx, cfg.ID, name)
	if errors.Is(err, store.ErrNotFound) {
		return refuse(ErrNoRepository, "“"+cfg.DisplayName()+"” has no repository called "+name+".")
	} else if err != nil {
		return err
	}
	if purge {
		if err := a.purge(ctx, caller, p, cfg, repo); err != nil {
			return err
		}
	}
	err = a.st.ForgetRepository(ctx, cfg.ID, name, purge, caller.By)
	if errors.Is(err, store.ErrNotFound) { // forgotten by another request meanwhile
		return nil
	}
	return err
}

// purge deletes repo on cfg's host.
func (a *Actions) purge(ctx context.Context, caller Caller, p *provider.Provider, cfg store.SCMConfig, repo store.Repository) error {
	if !p.Selectable() {
		return refuse(ErrBuiltIn, "The built-in configuration's repositories are the platform's own: forget them without purge.")
	}
	acc, err := a.hostAccess(ctx, caller.User, p, cfg)
	if err != nil {
		return err
	}
	owner := cmp.Or(repo.Owner, cfg.ProjectKey) // a repository a push registered names no owner
	err = a.checker.DeleteRepository(ctx, acc.target, acc.token, probe.Repository{Owner: owner, Name: repo.Name})
	return hostRefusal(err)
}
