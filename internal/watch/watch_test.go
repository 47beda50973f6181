package watch

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/testbed"
)

const patience = 10 * time.Second

// seen records the triggers fired, in order.
type seen struct {
	mu   sync.Mutex
	list []string
}

func (s *seen) note(what string) {
	s.mu.Lock()
	s.list = append(s.list, what)
	s.mu.Unlock()
}

// take returns the triggers fired since the last take.
func (s *seen) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.list
	s.list = nil
	return l
}

func (s *seen) triggers() Triggers {
	return Triggers{
		Volume:   func(name string) { s.note("volume " + name) },
		Peers:    func() { s.note("peers") },
		Identity: func() { s.note("identity") },
		All:      func() { s.note("all") },
	}
}

// watching watches a glusterd working directory made by prepare, with real
// inotify, until the test ends.
func watching(t *testing.T, prepare func(workdir string)) (string, *seen) {
	t.Helper()
	s := &seen{}
	return watchingWith(t, prepare, s, s.triggers()), s
}

func watchingWith(t *testing.T, prepare func(workdir string), s *seen, triggers Triggers) string {
	t.Helper()
	workdir := t.TempDir()
	if prepare != nil {
		prepare(workdir)
	}
	w, err := start(workdir, triggers, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.loop(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		w.fs.Close()
	})
	return workdir
}

func glusterdDirs(workdir string) {
	for _, d := range []string{"vols/gv0", "peers"} {
		if err := os.MkdirAll(filepath.Join(workdir, d), 0o755); err != nil {
			panic(err)
		}
	}
}

// expect waits until the triggers fired since the last expect are exactly
// want, in any order and repeats aside: one change may fire a trigger more
// than once.
func expect(t *testing.T, s *seen, what string, want ...string) {
	t.Helper()
	slices.Sort(want)
	var got []string
	deadline := time.Now().Add(patience)
	for time.Now().Before(deadline) {
		got = append(got, s.take()...)
		distinct := slices.Compact(slices.Sorted(slices.Values(got)))
		if slices.Equal(distinct, want) {
			return
		}
		if slices.ContainsFunc(distinct, func(g string) bool { return !slices.Contains(want, g) }) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s: triggers %q, want %q", what, got, want)
}

// waitSeen waits until trigger fires, whatever else does.
func waitSeen(t *testing.T, s *seen, what, trigger string) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !slices.Contains(s.take(), trigger) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: no trigger %q", what, trigger)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// replace writes path the way glusterd's store does: a temporary file
// renamed over it.
func replace(t *testing.T, path, data string) {
	t.Helper()
	write(t, path+".tmp", data)
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, path string) {
	t.Helper()
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
}

func TestVolumeChanges(t *testing.T) {
	wd, s := watching(t, glusterdDirs)
	vols := filepath.Join(wd, "vols")
	write(t, filepath.Join(vols, "gv0", "info"), "type=2\n")
	expect(t, s, "a file written", "volume gv0")
	replace(t, filepath.Join(vols, "gv0", "info"), "type=0\n")
	expect(t, s, "a file renamed over", "volume gv0")
	remove(t, filepath.Join(vols, "gv0", "info"))
	expect(t, s, "a file deleted", "volume gv0")

	if err := os.Mkdir(filepath.Join(vols, "gv1"), 0o755); err != nil {
		t.Fatal(err)
	}
	expect(t, s, "a volume directory made", "volume gv1")
	write(t, filepath.Join(vols, "gv1", "info"), "type=2\n")
	expect(t, s, "a file in a new volume directory", "volume gv1")
	remove(t, filepath.Join(vols, "gv1"))
	expect(t, s, "a volume directory deleted", "volume gv1")
	if err := os.Rename(filepath.Join(vols, "gv0"), filepath.Join(vols, "gv2")); err != nil {
		t.Fatal(err)
	}
	expect(t, s, "a volume directory renamed", "volume gv0", "volume gv2")
}

func TestPeerChanges(t *testing.T) {
	wd, s := watching(t, glusterdDirs)
	peer := filepath.Join(wd, "peers", "d8c97f98-54ab-4743-8938-31d00bfb6bbd")
	write(t, peer, "state=3\n")
	expect(t, s, "a peer file written", "peers")
	replace(t, peer, "state=4\n")
	expect(t, s, "a peer file renamed over", "peers")
	remove(t, peer)
	expect(t, s, "a peer file deleted", "peers")
}

func TestGlusterdInfoChanges(t *testing.T) {
	wd, s := watching(t, glusterdDirs)
	info := filepath.Join(wd, "glusterd.info")
	replace(t, info, "UUID=4e55889f-2842-45c2-aec4-6832663da4e1\noperating-version=100000\n")
	expect(t, s, "glusterd.info renamed over", "identity")
	write(t, info, "UUID=4e55889f-2842-45c2-aec4-6832663da4e1\noperating-version=110000\n")
	expect(t, s, "glusterd.info written", "identity")
	remove(t, info)
	expect(t, s, "glusterd.info deleted", "identity")
}

// What glusterd keeps beside them triggers nothing.
func TestOtherFilesIgnored(t *testing.T) {
	wd, s := watching(t, glusterdDirs)
	write(t, filepath.Join(wd, "options"), "global-option-version=1\n")
	write(t, filepath.Join(wd, "vols", "gv0", ".info.swp"), "x")
	replace(t, filepath.Join(wd, "glusterd.info.old"), "x")
	// Events arrive in order: once this one is seen, the ones before it
	// were handled.
	write(t, filepath.Join(wd, "peers", "p"), "state=3\n")
	expect(t, s, "other files changed, then a peer", "peers")
}

// vols/ and peers/ made after the watch began are watched too.
func TestDirectoriesMadeLater(t *testing.T) {
	wd, s := watching(t, nil)
	for _, d := range []string{"vols", "peers"} {
		if err := os.Mkdir(filepath.Join(wd, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The watch on a directory is added once its creation is handled;
	// until a change inside it is seen, try again.
	deadline := time.Now().Add(patience)
	for !slices.Contains(s.take(), "peers") {
		if time.Now().After(deadline) {
			t.Fatal("a change in peers/ made after the watch began was not seen")
		}
		write(t, filepath.Join(wd, "peers", "p"), "state=3\n")
		time.Sleep(10 * time.Millisecond)
	}
	if err := os.Mkdir(filepath.Join(wd, "vols", "gv0"), 0o755); err != nil {
		t.Fatal(err)
	}
	waitSeen(t, s, "a volume directory made in a new vols/", "volume gv0")
}

// An overflow of the kernel's event queue loses changes to anything: it
// fires the one trigger that re-reads everything. The queue is made to
// overflow for real: the first trigger holds the watcher while more
// changes are made than the queue holds.
func TestOverflowReadsEverything(t *testing.T) {
	limit, err := os.ReadFile("/proc/sys/fs/inotify/max_queued_events")
	if err != nil {
		testbed.Missing(t, "no inotify queue limit: %v", err)
	}
	queued, err := strconv.Atoi(strings.TrimSpace(string(limit)))
	if err != nil || queued > 1<<20 {
		testbed.Missing(t, "an inotify queue of %q events is too long to overflow in a test", limit)
	}
	s := &seen{}
	triggers := s.triggers()
	held := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	volume := triggers.Volume
	triggers.Volume = func(name string) {
		once.Do(func() { close(held); <-release })
		volume(name)
	}
	wd := watchingWith(t, glusterdDirs, s, triggers)
	dir := filepath.Join(wd, "vols", "gv0")
	write(t, filepath.Join(dir, "info"), "type=2\n")
	<-held
	for i := range queued + 100 {
		write(t, filepath.Join(dir, fmt.Sprintf("brick%d", i)), "")
	}
	close(release)
	waitSeen(t, s, "the event queue overflowed", "all")
}

// Sessions made and deleted under geo-replication/, and gsyncd's status
// files in a session's directory, fire GeoRep; geo-replication/ made after
// the watch began is watched too.
func TestGeoRep(t *testing.T) {
	s := &seen{}
	triggers := s.triggers()
	triggers.GeoRep = func() { s.note("georep") }
	workdir := watchingWith(t, glusterdDirs, s, triggers)
	geo := filepath.Join(workdir, "geo-replication")
	if err := os.Mkdir(geo, 0o755); err != nil {
		t.Fatal(err)
	}
	waitSeen(t, s, "geo-replication/ made", "georep")
	session := filepath.Join(geo, "pv_sec1_sv")
	if err := os.Mkdir(session, 0o755); err != nil {
		t.Fatal(err)
	}
	waitSeen(t, s, "session made", "georep")
	replace(t, filepath.Join(session, "brick_%2Fbricks%2Fpv.status"), `{"worker_status": "Faulty"}`)
	waitSeen(t, s, "status written", "georep")
	write(t, filepath.Join(workdir, "vols", "gv0", "info"), "x")
	waitSeen(t, s, "a volume", "volume gv0")
	time.Sleep(100 * time.Millisecond) // let the writes' last events in, so that what follows is the delete's
	s.take()
	if err := os.RemoveAll(session); err != nil {
		t.Fatal(err)
	}
	waitSeen(t, s, "session deleted", "georep")
}
