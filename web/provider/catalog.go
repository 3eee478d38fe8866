// Package provider is the catalog of source code hosts scmadmin can register: which providers
// exist, the fields each one asks for with their labels, help text and pre-filled values, how
// those fields are validated, which of them are fixed once created, how the connection test
// talks to the host, how the host delivers pushes and where its OAuth endpoints are. The
// forms, the validation, the probes, the webhook receiver and the tests all read it, so adding
// a provider means adding one entry to catalog.
package provider

import (
	"net/url"
	"slices"
	"strings"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/web/probe"
)

// Internal is the id of the built-in provider, hosted by the platform itself.
const Internal = "internal"

// Kind says how a field is validated and shown.
type Kind int

// Field kinds.
const (
	KindText       Kind = iota // free text, optional (the display name)
	KindHTTPSURL               // an absolute https:// URL
	KindSSHURL                 // ssh://[user@]host:port or user@host:port
	KindProjectKey             // a Bitbucket project key, stored upper-case
	KindCredential             // a printable, non-secret credential such as an OAuth client id
	KindSecret                 // a printable secret: encrypted at rest, never rendered back
)

// Field is one input of a provider's form.
type Field struct {
	Name        string
	Label       string
	Kind        Kind
	Required    bool
	Default     string // pre-filled on the Add form (public hosts' real URLs)
	Placeholder string
	Help        string // one line: what to enter and where to find it
	// Fixed fields are the configuration's identity: set at creation, kept on every edit.
	Fixed bool
	// URLKey is the field's name among a configuration's urls in configuration files (web,
	// api, ssh, as Algorithmia's API names them); "" for a field that is no URL.
	URLKey string
}

// Section is a group of fields under a heading, with a paragraph of what to do first.
type Section struct {
	Heading string
	// Intro says what to create on the host first; "{callback_url}" stands for the platform's
	// OAuth callback URL for this provider.
	Intro  string
	Fields []Field
}

// Provider is one kind of source code host.
type Provider struct {
	ID      string
	Label   string
	Trigger string // what starts a build of an algorithm hosted there
	// About says, on the Add form, what choosing this provider means.
	About string
	// Sections in form order: the connection (URLs and name), then the credentials.
	Sections []Section
	// Identity is the field shown in the list's ID column and that, with the normalised
	// Website URL, makes a configuration unique within UniqueScope.
	Identity    string
	UniqueScope string
	// SSHPortRequired makes the SSH URL's port mandatory (Bitbucket Server serves SSH on its own port).
	SSHPortRequired bool
	// APIPath, when set, is how the API URL ends: the API lives under the Website URL, on its
	// host (Bitbucket Server's /rest/api/1.0).
	APIPath string
	// Probe is how the connection test talks to the host.
	Probe probe.Family
	// Webhook is how the host delivers pushes to scmadmin's webhook receiver, when builds
	// start from them; nil otherwise.
	Webhook *WebhookFormat
	// APIBuilds says the platform starts each build by an API call (POST /v1/scms/{id}/builds)
	// instead of pushes.
	APIBuilds bool
	// OAuth is where the host's OAuth endpoints are, for the providers whose credentials are
	// an OAuth application; nil otherwise.
	OAuth *OAuthEndpoints
}

// OAuthEndpoints are a host's OAuth endpoints: Authorize, Token and RevokeToken under the
// Website URL, User, Orgs and RevokeGrant under the API URL; Scopes are those the platform
// asks for.
type OAuthEndpoints struct {
	Authorize, Token, User, Orgs string
	// RevokeGrant is GitHub's grant, deleted to revoke a token ({client_id} stands for the
	// client ID); RevokeToken is an RFC 7009 revocation endpoint. Neither: the host offers none.
	RevokeGrant, RevokeToken string
	Scopes                   string
	// PKCE says the host accepts a code_challenge (S256); BasicAuth that its token endpoint
	// takes the client's credentials as basic auth rather than in the form.
	PKCE, BasicAuth bool
}

// Host is where cfg's host takes the round trip's calls.
func (o *OAuthEndpoints) Host(cfg store.SCMConfig) probe.OAuthHost {
	web, api := strings.TrimRight(cfg.WebsiteURL, "/"), strings.TrimRight(cfg.APIURL, "/")
	h := probe.OAuthHost{Token: web + o.Token, User: api + o.User, Orgs: api + o.Orgs, BasicAuth: o.BasicAuth}
	switch {
	case o.RevokeGrant != "":
		h.Revoke, h.RevokeGrant = api+strings.ReplaceAll(o.RevokeGrant, "{client_id}", url.PathEscape(cfg.ClientID)), true
	case o.RevokeToken != "":
		h.Revoke = web + o.RevokeToken
	}
	return h
}

// AuthorizeURL is where the round trip sends the browser: cfg's host's authorization page,
// asking for the platform's scopes, to come back to redirectURI with state.
func (o *OAuthEndpoints) AuthorizeURL(cfg store.SCMConfig, redirectURI, state, challenge string) string {
	q := url.Values{"client_id": {cfg.ClientID}, "redirect_uri": {redirectURI}, "response_type": {"code"},
		"state": {state}, "scope": {o.Scopes}}
	if o.PKCE {
		q.Set("code_challenge", challenge)
		q.Set("code_challenge_method", "S256")
	}
	return strings.TrimRight(cfg.WebsiteURL, "/") + o.Authorize + "?" + q.Encode()
}

// How each host delivers pushes: Bitbucket Server through the project's webhook, the others
// through the webhook scmadmin gives each repository it creates.
var (
	bitbucketServerWebhook = &WebhookFormat{EventHeader: "X-Event-Key", SignatureHeader: "X-Hub-Signature",
		DeliveryHeader: "X-Request-Id", PushEvent: "repo:refs_changed", PingEvent: "diagnostics:ping",
		Signature: SignedHMAC, Parse: bitbucketServerPush, ProjectHook: true}
	githubWebhook = &WebhookFormat{EventHeader: "X-GitHub-Event", SignatureHeader: "X-Hub-Signature-256",
		DeliveryHeader: "X-GitHub-Delivery", PushEvent: "push", PingEvent: "ping", Signature: SignedHMAC, Parse: githubPush}
	gitlabWebhook = &WebhookFormat{EventHeader: "X-Gitlab-Event", SignatureHeader: "X-Gitlab-Token",
		DeliveryHeader: "X-Gitlab-Event-UUID", PushEvent: "Push Hook", Signature: SignedToken, Parse: gitlabPush}
	bitbucketCloudWebhook = &WebhookFormat{EventHeader: "X-Event-Key", SignatureHeader: "X-Hub-Signature",
		DeliveryHeader: "X-Request-UUID", PushEvent: "repo:push", Signature: SignedHMAC, Parse: bitbucketCloudPush}
)

var (
	githubOAuth = &OAuthEndpoints{Authorize: "/login/oauth/authorize", Token: "/login/oauth/access_token",
		User: "/user", Orgs: "/user/orgs", RevokeGrant: "/applications/{client_id}/grant",
		Scopes: "repo admin:repo_hook read:org", PKCE: true}
	gitlabOAuth = &OAuthEndpoints{Authorize: "/oauth/authorize", Token: "/oauth/token",
		User: "/user", Orgs: "/groups?min_access_level=30", RevokeToken: "/oauth/revoke", Scopes: "api read_user", PKCE: true}
	bitbucketCloudOAuth = &OAuthEndpoints{Authorize: "/site/oauth2/authorize", Token: "/site/oauth2/access_token",
		User: "/user", Orgs: "/workspaces", Scopes: "repository:admin webhook account", PKCE: true, BasicAuth: true}
)

// Fields returns the provider's fields in form order.
func (p *Provider) Fields() []Field {
	var fs []Field
	for _, s := range p.Sections {
		fs = append(fs, s.Fields...)
	}
	return fs
}

// Field returns the provider's field called name.
func (p *Provider) Field(name string) (Field, bool) {
	for _, f := range p.Fields() {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// IsURL reports whether f is one of a host's addresses (Website, API or SSH URL).
func (f Field) IsURL() bool { return f.Kind == KindHTTPSURL || f.Kind == KindSSHURL }

// MaxLen is the most characters the field accepts.
func (f Field) MaxLen() int {
	switch f.Kind {
	case KindHTTPSURL, KindSSHURL:
		return MaxURLLen
	case KindProjectKey:
		return MaxProjectKeyLen
	case KindCredential, KindSecret:
		return MaxCredentialLen
	}
	return MaxNameLen
}

// PushHooks reports whether the host delivers pushes to scmadmin's webhook, signed with the
// configuration's webhook secret: through the project's webhook, or through one on each
// repository scmadmin creates with a connected account (the OAuth providers).
func (p *Provider) PushHooks() bool { return p.Webhook != nil }

// ProjectHook reports whether scmadmin installs the host's project webhook (Bitbucket Server).
func (p *Provider) ProjectHook() bool { return p.Webhook != nil && p.Webhook.ProjectHook }

// Selectable reports whether admins can add configurations of this provider.
func (p *Provider) Selectable() bool { return p.ID != Internal }

// Lookup returns the provider with id.
func Lookup(id string) (*Provider, bool) {
	for _, p := range catalog {
		if p.ID == id {
			return p, true
		}
	}
	return nil, false
}

// All returns every provider, the built-in one first, in drop-down order.
func All() []*Provider { return catalog }

// ByLabel returns every provider id, ordered by label as the list sorts them.
func ByLabel() []string { return byLabel }

var byLabel = func() []string {
	ps := slices.Clone(catalog)
	slices.SortFunc(ps, func(a, b *Provider) int { return strings.Compare(a.Label, b.Label) })
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	return ids
}()

// Selectable returns the providers an admin can add, in drop-down order.
func Selectable() []*Provider { return catalog[1:] }

// urls is the connection section every provider but the built-in one has.
func urls(website, api, ssh Field) Section {
	website.Name, website.Label, website.Kind, website.Required, website.URLKey = store.FieldWebsiteURL, "Website URL", KindHTTPSURL, true, "web"
	api.Name, api.Label, api.Kind, api.Required, api.URLKey = store.FieldAPIURL, "API URL", KindHTTPSURL, true, "api"
	ssh.Name, ssh.Label, ssh.Kind, ssh.Required, ssh.URLKey = store.FieldSSHURL, "SSH URL", KindSSHURL, true, "ssh"
	name := Field{Name: store.FieldName, Label: "Display name", Kind: KindText,
		Placeholder: "Defaults to the host and the ID: host · KEY",
		Help:        "Optional. How this configuration is named in the list and to people creating algorithms."}
	return Section{Heading: "Connection", Fields: []Field{website, api, ssh, name}}
}

// oauth is the credentials section of the OAuth providers.
func oauth(intro string, id, secret Field) Section {
	id.Name, id.Kind, id.Required = store.FieldClientID, KindCredential, true
	secret.Name, secret.Kind, secret.Required = store.FieldClientSecret, KindSecret, true
	return Section{Heading: "OAuth Information", Intro: intro, Fields: []Field{id, secret}}
}

// bitbucketServerCredentials is the credentials section shared by both Bitbucket Server kinds.
func bitbucketServerCredentials(trigger string) Section {
	return Section{
		Heading: "Credentials",
		Intro: "In Bitbucket Server 5.6 or newer, choose the project that will hold the algorithms' repositories and a user " +
			"who is admin of that project. Signed in as that user, create a personal access token (your avatar → Manage account → " +
			"Personal access tokens) with Admin permission for projects and for repositories. " + trigger,
		Fields: []Field{
			{Name: store.FieldProjectKey, Label: "Project key", Kind: KindProjectKey, Required: true, Fixed: true, Placeholder: "ALGO",
				Help: "The key of the project that will hold the repositories, as in …/projects/ALGO: letters, digits and underscores, starting with a letter."},
			{Name: store.FieldAccessToken, Label: "Personal access token", Kind: KindSecret, Required: true,
				Help: "Needs Admin permission for projects and repositories, and its user must be admin of the project. Bitbucket shows it only once."},
		},
	}
}

func bitbucketServer(id, label, trigger, about, howBuilt string, webhook *WebhookFormat) *Provider {
	return &Provider{
		ID: id, Label: label, Trigger: trigger, About: about, Identity: store.FieldProjectKey, UniqueScope: "bitbucket_server", SSHPortRequired: true,
		APIPath: "/rest/api/1.0", Probe: probe.BitbucketServer, Webhook: webhook, APIBuilds: webhook == nil,
		Sections: []Section{
			urls(
				Field{Placeholder: "https://bitbucket.example.com",
					Help: "Your Bitbucket Server as people open it in a browser: HTTPS with a valid SSL certificate."},
				Field{Placeholder: "https://bitbucket.example.com/rest/api/1.0",
					Help: "Bitbucket's REST API: the Website URL followed by /rest/api/1.0."},
				Field{Placeholder: "ssh://git@bitbucket.example.com:8000",
					Help: "SSH must be enabled (Administration → Server settings); end the URL with the SSH port: Bitbucket's default is 7999, the reference set-up uses 8000."},
			),
			bitbucketServerCredentials(howBuilt),
		},
	}
}

var catalog = []*Provider{
	{ID: Internal, Label: "Built-in (hosted by the platform)", Trigger: "built in"},
	{
		ID: "github", Label: "GitHub", Trigger: "push, via webhook",
		About: "GitHub.com: repositories are created with the GitHub account each user connects through an OAuth App.", Identity: store.FieldClientID, UniqueScope: "github",
		Probe: probe.GitHub, OAuth: githubOAuth, Webhook: githubWebhook,
		Sections: []Section{
			urls(
				Field{Default: "https://github.com", Help: "Keep https://github.com for GitHub.com."},
				Field{Default: "https://api.github.com", Help: "Keep https://api.github.com for GitHub.com."},
				Field{Default: "ssh://git@github.com:22", Help: "Keep ssh://git@github.com:22 for GitHub.com."},
			),
			oauth("In GitHub, create an OAuth App (Settings → Developer settings → OAuth Apps → New OAuth App) whose "+
				"Authorization callback URL is {callback_url}, then generate a client secret for it.",
				Field{Label: "Client ID", Help: "Shown at the top of the OAuth App's page in GitHub."},
				Field{Label: "Client secret", Help: "Made with “Generate a new client secret” on the OAuth App's page; GitHub shows it only once."}),
		},
	},
	{
		ID: "github_enterprise", Label: "GitHub Enterprise", Trigger: "push, via webhook",
		About: "Your own GitHub Enterprise Server: repositories are created with the account each user connects through an OAuth App on it.", Identity: store.FieldClientID, UniqueScope: "github_enterprise",
		Probe: probe.GitHub, OAuth: githubOAuth, Webhook: githubWebhook,
		Sections: []Section{
			urls(
				Field{Placeholder: "https://github.example.com", Help: "Your GitHub Enterprise Server as people open it in a browser."},
				Field{Placeholder: "https://github.example.com/api/v3", Help: "Your server's REST API: the Website URL followed by /api/v3."},
				Field{Placeholder: "ssh://git@github.example.com:22", Help: "Your server's SSH address with user and port: usually git and 22."},
			),
			oauth("On your GitHub Enterprise Server, create an OAuth App (Settings → Developer settings → OAuth Apps → New OAuth App) "+
				"whose Authorization callback URL is {callback_url}, then generate a client secret for it.",
				Field{Label: "Client ID", Help: "Shown at the top of the OAuth App's page."},
				Field{Label: "Client secret", Help: "Made with “Generate a new client secret” on the OAuth App's page; it is shown only once."}),
		},
	},
	{
		ID: "gitlab", Label: "GitLab", Trigger: "push, via webhook",
		About: "GitLab.com or a self-managed GitLab: repositories are created with the account each user connects through a GitLab application.", Identity: store.FieldClientID, UniqueScope: "gitlab",
		Probe: probe.GitLab, OAuth: gitlabOAuth, Webhook: gitlabWebhook,
		Sections: []Section{
			urls(
				Field{Default: "https://gitlab.com", Help: "Keep https://gitlab.com for GitLab.com, or enter your self-managed GitLab's address."},
				Field{Default: "https://gitlab.com/api/v4", Help: "GitLab's REST API: the Website URL followed by /api/v4."},
				Field{Default: "ssh://git@gitlab.com:22", Help: "GitLab's SSH address with user and port: ssh://git@gitlab.com:22 for GitLab.com."},
			),
			oauth("In GitLab, add an application (Admin Area → Applications, or your avatar → Edit profile → Applications) whose "+
				"Redirect URI is {callback_url}, with the scopes api and read_user.",
				Field{Label: "Application ID", Help: "Shown on the application's page in GitLab once it is saved."},
				Field{Label: "Secret", Help: "Shown beside the Application ID when the application is saved; copy it then."}),
		},
	},
	{
		ID: "bitbucket_cloud", Label: "Bitbucket Cloud", Trigger: "push, via webhook",
		About: "Bitbucket.org: repositories are created in a workspace with the account each user connects through an OAuth consumer.", Identity: store.FieldClientID, UniqueScope: "bitbucket_cloud",
		Probe: probe.BitbucketCloud, OAuth: bitbucketCloudOAuth, Webhook: bitbucketCloudWebhook,
		Sections: []Section{
			urls(
				Field{Default: "https://bitbucket.org", Help: "Keep https://bitbucket.org for Bitbucket Cloud."},
				Field{Default: "https://api.bitbucket.org/2.0", Help: "Keep https://api.bitbucket.org/2.0 for Bitbucket Cloud."},
				Field{Default: "ssh://git@bitbucket.org:22", Help: "Keep ssh://git@bitbucket.org:22 for Bitbucket Cloud."},
			),
			oauth("In Bitbucket Cloud, add an OAuth consumer (Workspace settings → OAuth consumers → Add consumer) whose Callback URL is "+
				"{callback_url}; make it private and give it Repositories: Admin and Webhooks: Read and write.",
				Field{Label: "Consumer key", Help: "The consumer's Key, shown under OAuth consumers once it is saved."},
				Field{Label: "Consumer secret", Help: "The consumer's Secret, shown beside its Key."}),
		},
	},
	bitbucketServer("bitbucket_server", "Bitbucket Server (build-on-checkin)", "push to master, via webhook",
		"Your own Bitbucket Server: repositories are created in one project with a personal access token, and every push to master starts a build.",
		"Every push to master then starts a build, through a webhook on the project.", bitbucketServerWebhook),
	bitbucketServer("bitbucket_server_api", "Bitbucket Server (build-via-API)", "an API call per build",
		"Your own Bitbucket Server: repositories are created in one project with a personal access token, and the platform starts each build by an API call.",
		"Builds are then started by an API call, not by pushes.", nil),
}
