package store

import (
	"context"
	"testing"
)

// The heartbeat proves the write path without invalidating any cache: it bumps no data version.
func TestHeartbeatBumpsNoVersion(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	before, err := s.Versions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := s.Heartbeat(ctx); err != nil {
			t.Fatal(err)
		}
	}
	after, err := s.Versions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("heartbeats changed the data versions: %+v → %+v", before, after)
	}
}
