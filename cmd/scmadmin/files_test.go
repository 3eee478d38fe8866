package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// watchReadable reports, until stop is closed, every file in dir (and in the directories
// under it that others may enter) that someone other than its owner could read.
func watchReadable(dir string, stop <-chan struct{}) <-chan []string {
	found := make(chan []string, 1)
	go func() {
		seen := map[string]bool{}
		var list []string
		var walk func(d string)
		walk = func(d string) {
			entries, _ := os.ReadDir(d)
			for _, e := range entries {
				info, err := e.Info()
				if err != nil {
					continue
				}
				p := filepath.Join(d, e.Name())
				if info.IsDir() && info.Mode().Perm()&0o055 != 0 {
					walk(p)
				} else if !info.IsDir() && info.Mode().Perm()&0o044 != 0 && !seen[p] {
					seen[p] = true
					list = append(list, p+" "+info.Mode().Perm().String())
				}
			}
		}
		for {
			select {
			case <-stop:
				walk(dir)
				found <- list
				return
			default:
				walk(dir)
			}
		}
	}()
	return found
}

// TestSecretFilesNeverReadableByOthers: a backup was world-readable for a moment (VACUUM
// INTO creates it under the umask before the chmod), and so was a new database (issue 13,
// item 6). Under the common umask 022, no moment is.
func TestSecretFilesNeverReadableByOthers(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	db := filepath.Join(dir, "scm.db")
	vars := map[string]string{"SCMADMIN_DB": db, "SCMADMIN_ADMIN_PASSWORD": "file mode test 1"}

	stop := make(chan struct{})
	found := watchReadable(dir, stop)
	for _, args := range [][]string{{"user", "add", "someone"}, {"backup", filepath.Join(dir, "copy.db")}} {
		if err := run(context.Background(), args, env(vars), strings.NewReader("a long enough password\n"), io.Discard); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	close(stop)
	if got := <-found; len(got) > 0 {
		t.Errorf("readable by others at some moment: %v", got)
	}
	if info, err := os.Stat(filepath.Join(dir, "copy.db")); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("backup: %v %v", info, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 4 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("left in the directory: %v, want the database, its change file, the key file and the backup", names)
	}
}
