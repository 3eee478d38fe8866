package provider

import (
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

// FuzzPushPayloads reads any body as each host's push: never a panic; a build (a commit) or a
// reason for none, never both.
func FuzzPushPayloads(f *testing.F) {
	fixtures, err := filepath.Glob("../testdata/push-*.json")
	if err != nil || len(fixtures) == 0 {
		f.Fatalf("no push fixtures in ../testdata: %v", err)
	}
	for _, name := range fixtures {
		body, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
	}
	for _, seed := range []string{"", "null", "[]", "{}", `{"ref": 1}`, `{"push": {"changes": [{"new": null}, {}]}}`,
		`{"repository": {"full_name": "/", "mainbranch": {}}, "push": {"changes": [{"new": {"type": "branch", "name": "main"}}]}}`,
		`{"project": {"path_with_namespace": "/"}, "ref": "refs/heads/", "after": ""}`, "\xff\xfe",
		`{"changes":[{"ref":{"id":"refs/heads/master"},"type":"ADD","toHash":""}],"repository":{"project":{"key":"ALGO"},"slug":""}}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, p := range All() {
			if p.Webhook == nil {
				continue
			}
			push, err := p.Webhook.Parse(body)
			if err != nil {
				continue
			}
			if (push.Commit == "") == (push.Skip == "") {
				t.Errorf("%s: commit %q and skip %q: want exactly one", p.ID, push.Commit, push.Skip)
			}
			if utf8.Valid(body) && !utf8.ValidString(push.Skip) {
				t.Errorf("%s: skip %q is not UTF-8", p.ID, push.Skip)
			}
		}
	})
}
