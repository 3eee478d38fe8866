package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/scmadmin/scmadmin/store"
)

// The builds feed (SPEC "Algorithm repositories and builds"): GET /v1/builds, every build
// oldest first, for the platform to follow by its marker. The store's seq makes it safe to
// follow while builds are added (see store/buildhook.go).

// Paging of the feed: 100 builds an answer unless asked, at most 1,000.
const (
	defaultFeedLimit = 100
	maxFeedLimit     = 1000
)

// buildFeed is an answer of GET /v1/builds.
type buildFeed struct {
	Results []buildJSON `json:"results"`
	// Marker is the cursor to pass back as ?after=: the last build's seq, or the cursor
	// given when no build followed it.
	Marker string `json:"marker"`
}

// listBuilds is GET /v1/builds?after=CURSOR&limit=N.
func (s *server) listBuilds(c echo.Context) error {
	after, limit, err := parseFeedQuery(c.QueryParams())
	if err != nil {
		return err
	}
	builds, err := s.st.BuildsAfter(c.Request().Context(), after, limit)
	if errors.Is(err, store.ErrMarkerAhead) {
		return badRequest(http.StatusBadRequest, "after", "after is ahead of every build recorded: pass a marker the feed gave "+
			"(a database restored from an older backup forgets the builds after it), or none to start from the oldest.")
	} else if err != nil {
		return err
	}
	feed := buildFeed{Results: make([]buildJSON, 0, len(builds)), Marker: strconv.FormatInt(after, 10)}
	for _, b := range builds {
		feed.Results = append(feed.Results, toBuildJSON(b))
		feed.Marker = strconv.FormatInt(b.Seq, 10)
	}
	return c.JSON(http.StatusOK, feed)
}

// parseFeedQuery reads ?after (a marker the feed gave, or nothing: from the oldest) and
// ?limit (1–1000, default 100).
func parseFeedQuery(q url.Values) (after int64, limit int, err error) {
	limit = defaultFeedLimit
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > maxFeedLimit {
			return 0, 0, badRequest(http.StatusBadRequest, "limit", "limit must be a whole number from 1 to 1000.")
		}
	}
	if v := q.Get("after"); v != "" {
		if after, err = strconv.ParseInt(v, 10, 64); err != nil || strings.Trim(v, "0123456789") != "" {
			return 0, 0, badRequest(http.StatusBadRequest, "after", "after must be a marker the feed gave, as it was given.")
		}
	}
	return after, limit, nil
}
