package probe

import (
	"net/http"
	"testing"
)

// Each family's host words its refusals its own way; hostSaid quotes every one.
func TestHostSaidQuotesEveryFamily(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		status     int
		want       string
	}{
		{"Bitbucket Server", `{"errors":[{"context":"name","message":"This repository URL is already taken by 'x' in 'Algorithms'","exceptionName":null}]}`,
			409, `it answered 409: “This repository URL is already taken by 'x' in 'Algorithms'”`},
		{"GitHub", `{"message":"Repository creation failed.","errors":[{"resource":"Repository","code":"custom","field":"name","message":"name already exists on this account"}]}`,
			422, "it answered 422: “Repository creation failed. name already exists on this account”"},
		{"GitLab fields", `{"message":{"name":["has already been taken"],"path":["has already been taken"]}}`,
			400, "it answered 400: “name has already been taken; path has already been taken”"},
		{"GitLab scope", `{"error":"insufficient_scope","error_description":"The request requires higher privileges than provided by the access token.","scope":"api"}`,
			403, "it answered 403: “insufficient_scope The request requires higher privileges than provided by the access token.”"},
		{"Bitbucket Cloud", `{"type":"error","error":{"message":"Repository with this Slug and Owner already exists."}}`,
			400, "it answered 400: “Repository with this Slug and Owner already exists.”"},
		{"not JSON", `<html>Bad gateway</html>`, 502, "it answered 502 Bad Gateway"},
	} {
		if got := hostSaid(response{status: tc.status, body: []byte(tc.body)}); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// A refusal says what it takes when the host refused for want of permission.
func TestRefusedNamesThePermission(t *testing.T) {
	forbidden := response{status: http.StatusForbidden, body: []byte(`{"message":"Must have admin rights to Repository."}`)}
	msg, _ := HostMessage(refused("delete the repository a/b", "the delete_repo scope", forbidden, nil))
	if want := "Could not delete the repository a/b: it answered 403: “Must have admin rights to Repository.”. This needs the delete_repo scope."; msg != want {
		t.Errorf("%q, want %q", msg, want)
	}
	if NameTaken(refused("x", "y", forbidden, nil)) || !NameTaken(taken("x", forbidden)) {
		t.Error("NameTaken does not tell a taken name from another refusal")
	}
}
