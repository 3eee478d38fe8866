package action

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/store/keyring"
)

func newTestActions(t *testing.T) *Actions {
	t.Helper()
	dir := t.TempDir()
	keys, _, err := keyring.LoadOrCreate(filepath.Join(dir, "scmadmin.key"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), filepath.Join(dir, "scmadmin.db"), keys)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return New(st, nil, slog.New(slog.DiscardHandler), nil, nil)
}

// The notes about what was saved come from the operation, so that the pages and the JSON API
// both have them; they do not stop the save.
func TestSaveReturnsItsNotes(t *testing.T) {
	a := newTestActions(t)
	ctx, by := context.Background(), store.Actor{Username: "admin"}
	fields := url.Values{store.FieldWebsiteURL: {"https://bitbucket.example.com"}, store.FieldAPIURL: {"https://api.example.com/rest/api/1.0"},
		store.FieldSSHURL: {"ssh://git@bitbucket.example.com:7999"}, store.FieldProjectKey: {"ALGO"}, store.FieldAccessToken: {"token"}}
	created, err := a.Create(ctx, by, Input{Provider: "bitbucket_server", Fields: fields})
	if err != nil {
		t.Fatal(err)
	}
	if len(created.Notes) != 1 || !strings.Contains(created.Notes[0], "api.example.com, is not the Website URL's, bitbucket.example.com") {
		t.Errorf("create notes = %q", created.Notes)
	}
	if created.Config.APIURL != "https://api.example.com/rest/api/1.0" {
		t.Errorf("the note stopped the save: %+v", created.Config)
	}

	same := url.Values{store.FieldAPIURL: {"https://bitbucket.example.com/rest/api/1.0"}}
	updated, err := a.Update(ctx, by, created.Config.Ref, Input{Fields: same})
	if err != nil || len(updated.Notes) != 0 || updated.Config.APIURL != same.Get(store.FieldAPIURL) {
		t.Errorf("update to the Website URL's host: %+v %v", updated, err)
	}

	_, err = a.Update(ctx, by, created.Config.Ref, Input{Fields: url.Values{store.FieldAPIURL: {"https://bitbucket.example.com"}}})
	if r, ok := AsRefusal(err); !ok || !errors.Is(err, ErrInvalid) ||
		!strings.Contains(r.Fields[store.FieldAPIURL], "enter https://bitbucket.example.com/rest/api/1.0") {
		t.Errorf("an API URL without its path: %v", err)
	}
}
