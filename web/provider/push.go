package provider

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// How each host delivers pushes to scmadmin's webhook receiver, and what its push payload
// says a build needs. Every payload is the host's documented push event (see
// web/testdata/push-*.json).

// WebhookFormat is how a host delivers its events: the headers that name the event,
// authenticate the body and identify the delivery, the events that mean a push and a ping,
// and how a push's body is read.
type WebhookFormat struct {
	EventHeader, SignatureHeader, DeliveryHeader string
	// PingEvent is answered 200 and recorded nowhere; "" when the host sends none.
	PushEvent, PingEvent string
	// Signature is how SignatureHeader authenticates a delivery.
	Signature Signature
	// Parse reads a push event's body; an error means the body is not the JSON it should be.
	Parse func(body []byte) (Push, error)
	// ProjectHook says scmadmin installs one webhook on the configuration's project (Bitbucket
	// Server), which the details page can install, ping and give a new secret; otherwise each
	// repository scmadmin creates gets its own webhook with the configuration's secret.
	ProjectHook bool
}

// Signature is how a delivery proves it comes from a webhook given the configuration's secret.
type Signature int

const (
	// SignedHMAC: the header is "sha256=" and the hex HMAC-SHA256 of the raw body, keyed
	// with the secret.
	SignedHMAC Signature = iota
	// SignedToken: the header is the secret itself (GitLab's X-Gitlab-Token).
	SignedToken
)

// Authentic reports whether header authenticates body under secret, compared in constant
// time. Without a secret nothing is authentic.
func (f *WebhookFormat) Authentic(header string, body []byte, secret string) bool {
	if secret == "" {
		return false
	}
	if f.Signature == SignedToken {
		return subtle.ConstantTimeCompare([]byte(header), []byte(secret)) == 1
	}
	sig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal([]byte(strings.ToLower(sig)), []byte(hex.EncodeToString(mac.Sum(nil))))
}

// Push is what a push delivery says: the repository (who holds it on the host, and its name),
// the commit its default branch now points at, who pushed and when.
type Push struct {
	Owner, Repository string
	// Commit is "" when the push did not move the default branch to a commit (another branch,
	// a tag, a delete): Skip says what it did instead.
	Commit, Skip string
	Actor        string
	At           time.Time // zero when the payload does not say
}

// IsCommitID reports whether s is a commit's full id as builds take it: 40 hexadecimal digits.
func IsCommitID(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// FullName is the pushed repository as OWNER/NAME.
func (p Push) FullName() string { return p.Owner + "/" + p.Repository }

// masterRef is the branch whose pushes Bitbucket Server (build-on-checkin) builds.
const masterRef = "refs/heads/master"

// deleted is the commit hosts name as a deleted branch's new head.
var deleted = strings.Repeat("0", 40)

// bitbucketServerPush reads Bitbucket Server's repo:refs_changed: a change of master of type
// ADD or UPDATE builds its toHash.
func bitbucketServerPush(body []byte) (Push, error) {
	var ev struct {
		Date  string `json:"date"`
		Actor struct {
			Name string `json:"name"`
		} `json:"actor"`
		Repository struct {
			Slug    string `json:"slug"`
			Project struct {
				Key string `json:"key"`
			} `json:"project"`
		} `json:"repository"`
		Changes []struct {
			Ref struct {
				ID string `json:"id"`
			} `json:"ref"`
			ToHash string `json:"toHash"`
			Type   string `json:"type"`
		} `json:"changes"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		return Push{}, err
	}
	p := Push{Owner: ev.Repository.Project.Key, Repository: ev.Repository.Slug, Actor: ev.Actor.Name}
	p.At, _ = time.Parse("2006-01-02T15:04:05-0700", ev.Date)
	var seen []string
	for _, ch := range ev.Changes {
		if ch.Ref.ID == masterRef && (ch.Type == "ADD" || ch.Type == "UPDATE") && ch.ToHash != "" {
			p.Commit = ch.ToHash
			return p, nil
		}
		seen = append(seen, ch.Ref.ID+" "+ch.Type)
	}
	p.Skip = "no push to master: " + listed(seen)
	return p, nil
}

// githubPush reads GitHub's (and GitHub Enterprise's) push event: a push to the repository's
// default branch builds its new head, after.
func githubPush(body []byte) (Push, error) {
	var ev struct {
		Ref        string `json:"ref"`
		After      string `json:"after"`
		Deleted    bool   `json:"deleted"`
		Repository struct {
			Name          string `json:"name"`
			FullName      string `json:"full_name"`
			DefaultBranch string `json:"default_branch"`
			MasterBranch  string `json:"master_branch"`
			Owner         struct {
				Login string `json:"login"`
				Name  string `json:"name"`
			} `json:"owner"`
		} `json:"repository"`
		Pusher struct {
			Name string `json:"name"`
		} `json:"pusher"`
		Sender struct {
			Login string `json:"login"`
		} `json:"sender"`
		HeadCommit *struct {
			Timestamp string `json:"timestamp"`
		} `json:"head_commit"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		return Push{}, err
	}
	r := ev.Repository
	owner, _, _ := strings.Cut(r.FullName, "/")
	p := Push{Owner: cmp.Or(owner, r.Owner.Login, r.Owner.Name), Repository: r.Name, Actor: cmp.Or(ev.Pusher.Name, ev.Sender.Login)}
	if ev.HeadCommit != nil {
		p.At, _ = time.Parse(time.RFC3339, ev.HeadCommit.Timestamp)
	}
	p.Commit, p.Skip = branchPush(ev.Ref, cmp.Or(r.DefaultBranch, r.MasterBranch), ev.After, ev.Deleted)
	return p, nil
}

// gitlabPush reads GitLab's Push Hook: a push to the project's default branch builds its new
// head, after (checkout_sha when after is missing).
func gitlabPush(body []byte) (Push, error) {
	var ev struct {
		Ref          string `json:"ref"`
		After        string `json:"after"`
		CheckoutSHA  string `json:"checkout_sha"`
		UserUsername string `json:"user_username"`
		UserName     string `json:"user_name"`
		Project      struct {
			Name              string `json:"name"`
			PathWithNamespace string `json:"path_with_namespace"`
			DefaultBranch     string `json:"default_branch"`
		} `json:"project"`
		Commits []struct {
			ID        string `json:"id"`
			Timestamp string `json:"timestamp"`
		} `json:"commits"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		return Push{}, err
	}
	p := Push{Repository: ev.Project.Name, Actor: cmp.Or(ev.UserUsername, ev.UserName)}
	if i := strings.LastIndexByte(ev.Project.PathWithNamespace, '/'); i >= 0 {
		p.Owner, p.Repository = ev.Project.PathWithNamespace[:i], ev.Project.PathWithNamespace[i+1:]
	}
	head := cmp.Or(ev.After, ev.CheckoutSHA)
	for _, c := range ev.Commits {
		if c.ID == head {
			p.At, _ = time.Parse(time.RFC3339, c.Timestamp)
		}
	}
	p.Commit, p.Skip = branchPush(ev.Ref, ev.Project.DefaultBranch, head, false)
	return p, nil
}

// branchPush is the commit a push of ref to head builds when ref is the default branch, or
// why it builds none.
func branchPush(ref, defaultBranch, head string, gone bool) (commit, skip string) {
	switch {
	case defaultBranch == "":
		return "", "the payload names no default branch"
	case ref != "refs/heads/"+defaultBranch:
		return "", "no push to the default branch " + defaultBranch + ": " + listed([]string{ref})
	case gone || head == "" || head == deleted:
		return "", ref + " was deleted"
	}
	return head, ""
}

// bitbucketCloudPush reads Bitbucket Cloud's repo:push: a change whose new state is the
// repository's main branch (mainbranch when the payload names it, else main or master)
// builds that branch's new head.
func bitbucketCloudPush(body []byte) (Push, error) {
	type ref struct {
		Type   string `json:"type"`
		Name   string `json:"name"`
		Target struct {
			Hash string `json:"hash"`
			Date string `json:"date"`
		} `json:"target"`
	}
	var ev struct {
		Actor struct {
			Nickname    string `json:"nickname"`
			DisplayName string `json:"display_name"`
		} `json:"actor"`
		Repository struct {
			Name       string `json:"name"`
			FullName   string `json:"full_name"`
			Mainbranch *struct {
				Name string `json:"name"`
			} `json:"mainbranch"`
		} `json:"repository"`
		Push struct {
			Changes []struct {
				New, Old *ref
			} `json:"changes"`
		} `json:"push"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		return Push{}, err
	}
	p := Push{Repository: ev.Repository.Name, Actor: cmp.Or(ev.Actor.Nickname, ev.Actor.DisplayName)}
	if owner, name, ok := strings.Cut(ev.Repository.FullName, "/"); ok {
		p.Owner, p.Repository = owner, name
	}
	main := []string{"main", "master"}
	if ev.Repository.Mainbranch != nil && ev.Repository.Mainbranch.Name != "" {
		main = []string{ev.Repository.Mainbranch.Name}
	}
	var seen []string
	for _, ch := range ev.Push.Changes {
		switch {
		case ch.New == nil && ch.Old != nil:
			seen = append(seen, ch.Old.Type+" "+ch.Old.Name+" deleted")
		case ch.New == nil:
			seen = append(seen, "a change without a ref")
		case ch.New.Type == "branch" && slices.Contains(main, ch.New.Name) && ch.New.Target.Hash != "":
			p.Commit = ch.New.Target.Hash
			p.At, _ = time.Parse(time.RFC3339, ch.New.Target.Date)
			return p, nil
		default:
			seen = append(seen, ch.New.Type+" "+ch.New.Name)
		}
	}
	p.Skip = "no push to the main branch " + strings.Join(main, " or ") + ": " + listed(seen)
	return p, nil
}

// listed names the refs a push changed, the first few of them.
func listed(refs []string) string {
	const shown = 5
	switch {
	case len(refs) == 0:
		return "it changed no ref"
	case len(refs) > shown:
		return strings.Join(refs[:shown], ", ") + " …"
	}
	return strings.Join(refs, ", ")
}
