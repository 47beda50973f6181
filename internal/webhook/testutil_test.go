package webhook

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/journal"
	"github.com/glusterbus/glusterbus/internal/testbed"
)

// Where the tests find GlusterFS's own Python code.
const (
	gfeventsDir      = "/usr/lib/x86_64-linux-gnu/glusterfs/gfevents"
	glusterEventsAPI = "/usr/sbin/gluster-eventsapi"
	systemPython     = "/usr/bin/python3"
)

// glusterPython returns the Python that runs GlusterFS's scripts, checking
// that it has what they import.
func glusterPython(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(gfeventsDir, "glustereventsd.py")); err != nil {
		testbed.Missing(t, "%s", "GlusterFS's glustereventsd is not installed: "+err.Error())
	}
	py := systemPython
	if _, err := os.Stat(py); err != nil {
		if py, err = exec.LookPath("python3"); err != nil {
			testbed.Missing(t, "%s", "no python3")
		}
	}
	if out, err := exec.Command(py, "-c", "import requests, prettytable").CombinedOutput(); err != nil {
		testbed.Missing(t, "%s", "python3 lacks the modules GlusterFS's scripts import: "+string(out))
	}
	return py
}

// fakeGlusterdWorkdir makes a directory that GlusterFS's Python code takes
// for glusterd's working directory: a fake gluster command on PATH answers
// "gluster system:: getwd" with it and fails everything else (so
// gluster-eventsapi's sync to peers fails after the local change). It
// returns the directory and the environment to run the scripts in.
func fakeGlusterdWorkdir(t *testing.T) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	wd := filepath.Join(dir, "glusterd")
	bin := filepath.Join(dir, "bin")
	for _, d := range []string{filepath.Join(wd, "events"), bin} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script := "#!/bin/sh\n" +
		"if [ \"$1\" = \"system::\" ] && [ \"$2\" = \"getwd\" ]; then echo '" + wd + "'; exit 0; fi\n" +
		"echo \"test stand-in for gluster: $*\" >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(bin, "gluster"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return wd, env
}

// openJournal opens a journal in a temporary directory.
func openJournal(t testing.TB, dir string) *journal.Journal {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	// Test events carry fixed, old times: keep them from age retention.
	j, err := journal.Open(filepath.Join(dir, "journal.db"), journal.Options{MaxAge: 100 * 365 * 24 * time.Hour, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// testEvent is a native event numbered by tag.
func testEvent(tag string) journal.Event {
	return journal.Event{
		Time:   time.Unix(1700000000, 0),
		Node:   "8d1a4f3e-1b7c-4b0e-9a51-3c2d1e0f9a77",
		Name:   "CLIENT_CONNECT",
		Source: SourceNative,
		Fields: []journal.Field{{Key: "name", Value: "gv0"}, {Key: "tag", Value: tag}},
	}
}

// appendEvents appends n test events in batches.
func appendEvents(t testing.TB, j *journal.Journal, n int) {
	t.Helper()
	for n > 0 {
		k := min(n, 1000)
		evs := make([]journal.Event, k)
		for i := range evs {
			evs[i] = testEvent("e")
		}
		if _, err := j.Append(context.Background(), evs...); err != nil {
			t.Fatal(err)
		}
		n -= k
	}
}

// minPatience is the least any wait for a condition allows: a deadline is
// not a speed claim, and on a loaded machine what takes milliseconds alone
// can take seconds.
const minPatience = time.Minute

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	timeout = max(timeout, minPatience)
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
