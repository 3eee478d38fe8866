package action

import (
	"context"
	"errors"
	"strings"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/web/provider"
)

// Build-via-API: the platform starts each build of a Bitbucket Server (build-via-API)
// configuration's repository by an API call, where the other providers' builds start from pushes.

// ErrBuildsFromPushes refuses an API call for a build of a configuration whose builds start
// from pushes.
var ErrBuildsFromPushes = errors.New("action: the configuration's builds start from pushes")

// BuildInput is the build the platform asks for: a registered repository's name and a
// commit's full id.
type BuildInput struct {
	Repository, Commit string
}

// StartedBuild is a build of configuration Config; New says it was started by this call rather
// than found started by an earlier one.
type StartedBuild struct {
	Config store.SCMConfig
	Build  store.Build
	New    bool
}

// StartBuild records a build of in.Commit of configuration id's registered repository
// in.Repository, started by caller's API call. The same commit of the same repository builds
// once: asked again, it returns the build that exists.
func (a *Actions) StartBuild(ctx context.Context, caller Caller, id string, in BuildInput) (StartedBuild, error) {
	cfg, p, err := a.Load(ctx, id)
	if err != nil {
		return StartedBuild{}, err
	}
	if !p.APIBuilds {
		return StartedBuild{}, refuse(ErrBuildsFromPushes, "“"+cfg.DisplayName()+"” starts its builds from pushes to its repositories, "+
			"not by API calls: only Bitbucket Server (build-via-API) configurations take POST …/builds.")
	}
	if !cfg.Enabled {
		return StartedBuild{}, refuse(ErrDisabled, "“"+cfg.DisplayName()+"” is disabled: no build can start in it. Enable it first.")
	}
	errs := provider.Errors{}
	if !repoName.MatchString(in.Repository) {
		errs["repository"] = "Give the name of one of the configuration's repositories, as GET /v1/scms/" + cfg.Ref + "/repositories lists them."
	}
	if !provider.IsCommitID(in.Commit) {
		errs["commit"] = "Give the commit's full id: 40 hexadecimal digits."
	}
	if len(errs) > 0 {
		return StartedBuild{}, invalid(errs)
	}
	b, built, err := a.st.StartBuild(ctx, store.Build{ConfigID: cfg.ID, ProjectKey: cfg.ProjectKey, Repository: in.Repository,
		Commit: strings.ToLower(in.Commit), Actor: caller.By.Username, Trigger: store.TriggerAPI})
	if errors.Is(err, store.ErrNotRegistered) {
		return StartedBuild{}, invalid(provider.Errors{"repository": "“" + cfg.DisplayName() + "” has no repository called " + in.Repository +
			": create it first (POST /v1/scms/" + cfg.Ref + "/repositories)."})
	} else if err != nil {
		return StartedBuild{}, err
	}
	b.ConfigRef = cfg.Ref
	if built {
		a.log.Info("build started", "config", cfg.Ref, "repository", b.FullName(), "build", b.ID)
	}
	return StartedBuild{Config: cfg, Build: b, New: built}, nil
}
