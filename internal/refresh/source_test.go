package refresh

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/gluster"
)

// The captures of a GlusterFS 10.3 cluster of three nodes (see
// internal/gluster/capture_test.go). They were made on node 1.
const testdata = "../gluster/testdata"

const (
	node1 = "4e55889f-2842-45c2-aec4-6832663da4e1" // the local node
	node2 = "d8c97f98-54ab-4743-8938-31d00bfb6bbd"
	node3 = "9be63126-7bfe-4b3b-9213-8bdb745eabae"

	host2 = "127.1.1.2"
	host3 = "127.1.1.3"
)

// Call names the fake source counts and can hold or fail.
func infoCall(vol string) string   { return "VolumeInfo(" + vol + ")" }
func statusCall(vol string) string { return "VolumeStatusDetail(" + vol + ")" }

const (
	peersCall     = "Peers()"
	uuidCall      = "LocalUUID()"
	opVersionCall = "OpVersion()"
	versionCall   = "Version()"
)

// fakeSource is a Source that serves the captured XML through the real
// parsers, the way gluster.CLI does. Which capture it serves can be switched;
// it counts calls, and calls can be made to fail or to wait.
type fakeSource struct {
	t *testing.T

	mu        sync.Mutex
	info      string            // volume info all
	status    string            // volume status all detail
	peers     string            // peer status
	override  map[string]string // volume -> its own `volume status VOL detail` capture
	snapshots string            // `snapshot info` capture; "": no LVM tools
	calls     map[string]int
	errs      map[string][]error // call -> errors for its next calls
	anyErr    error              // every call fails with it
	holds     map[string]*hold
	running   int
	maxRun    int
	// sameRunning counts the calls of each name running; maxSameRun is
	// the most of one name, get-state aside, ever running at once.
	sameRunning map[string]int
	maxSameRun  int
}

// hold makes the calls of one name wait: each call announces itself on
// entered and waits for a value on release (or for its context to end).
type hold struct {
	entered chan struct{}
	release chan struct{}
}

func newFakeSource(t *testing.T) *fakeSource {
	return &fakeSource{
		t:        t,
		info:     "volume-info-all.xml",
		status:   "volume-status-all-detail.xml",
		peers:    "peer-status.xml",
		override: map[string]string{},
		calls:    map[string]int{},
		errs:     map[string][]error{},
		holds:    map[string]*hold{},
	}
}

func (f *fakeSource) read(name string) []byte {
	data, err := os.ReadFile(filepath.Join(testdata, name))
	if err != nil {
		f.t.Error(err)
	}
	return data
}

// set switches the captures served from now on; empty arguments keep theirs.
func (f *fakeSource) set(info, status, peers string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if info != "" {
		f.info = info
	}
	if status != "" {
		f.status = status
	}
	if peers != "" {
		f.peers = peers
	}
}

// setVolumeStatus serves file as the status of vol, alone or within all.
func (f *fakeSource) setVolumeStatus(vol, file string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.override[vol] = file
}

// clearVolumeStatus serves vol's status from the status capture again.
func (f *fakeSource) clearVolumeStatus(vol string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.override, vol)
}

// fail makes the next len(errs) calls of name fail.
func (f *fakeSource) fail(name string, errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs[name] = append(f.errs[name], errs...)
}

// failAll makes every call fail with err; nil ends it.
func (f *fakeSource) failAll(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.anyErr = err
}

// hold makes the calls of name wait until released.
func (f *fakeSource) hold(name string) *hold {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := &hold{entered: make(chan struct{}, 1000), release: make(chan struct{})}
	f.holds[name] = h
	return h
}

// unhold lets later calls of name through at once.
func (f *fakeSource) unhold(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.holds, name)
}

func (f *fakeSource) count(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[name]
}

// counts returns the calls whose names start with prefix.
func (f *fakeSource) counts(prefix string) map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for k, n := range f.calls {
		if strings.HasPrefix(k, prefix) {
			out[k] = n
		}
	}
	return out
}

func (f *fakeSource) maxRunning() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.maxRun
}

// maxSameRunning is the most calls of one name, other than get-state, ever
// running at once: a full read makes each of its calls once, some side by
// side, so two of one name at once are two full reads at once. (get-state
// is made by targeted reads too.)
func (f *fakeSource) maxSameRunning() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.maxSameRun
}

// call counts a call, computes its answer from the captures served now and
// then, if the call is held, waits: a held call answers what gluster saw
// when it was called.
func call[T any](f *fakeSource, ctx context.Context, name string, answer func() (T, error)) (T, error) {
	f.mu.Lock()
	f.calls[name]++
	f.running++
	f.maxRun = max(f.maxRun, f.running)
	if f.sameRunning == nil {
		f.sameRunning = map[string]int{}
	}
	f.sameRunning[name]++
	if name != localStateCall {
		f.maxSameRun = max(f.maxSameRun, f.sameRunning[name])
	}
	err := f.anyErr
	if q := f.errs[name]; len(q) > 0 && err == nil {
		err = q[0]
		f.errs[name] = q[1:]
	}
	h := f.holds[name]
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.running--
		f.sameRunning[name]--
		f.mu.Unlock()
	}()

	var v T
	if err == nil {
		v, err = answer()
	}
	if h != nil {
		h.entered <- struct{}{}
		select {
		case <-h.release:
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		}
	}
	return v, err
}

func (f *fakeSource) VolumeInfo(ctx context.Context, volume string) ([]gluster.Volume, error) {
	return call(f, ctx, infoCall(volume), func() ([]gluster.Volume, error) { return f.volumeInfo(volume) })
}

func (f *fakeSource) volumeInfo(volume string) ([]gluster.Volume, error) {
	f.mu.Lock()
	file := f.info
	f.mu.Unlock()
	vols, err := gluster.ParseVolumeInfo(f.read(file))
	if err != nil || volume == "" {
		return vols, err
	}
	for _, v := range vols {
		if v.Name == volume {
			return []gluster.Volume{v}, nil
		}
	}
	// What `gluster volume info NAME` answers for a volume it does not know.
	return gluster.ParseVolumeInfo(f.read("error-volume-info-missing.xml"))
}

func (f *fakeSource) VolumeStatusDetail(ctx context.Context, volume string) ([]gluster.BrickStatus, error) {
	return call(f, ctx, statusCall(volume), func() ([]gluster.BrickStatus, error) { return f.volumeStatus(volume) })
}

func (f *fakeSource) volumeStatus(volume string) ([]gluster.BrickStatus, error) {
	f.mu.Lock()
	file := f.status
	overrides := maps.Clone(f.override)
	f.mu.Unlock()
	if volume != "" {
		vols, err := f.volumeInfo("")
		if err != nil {
			return nil, err
		}
		i := slices.IndexFunc(vols, func(v gluster.Volume) bool { return v.Name == volume })
		switch {
		case i < 0:
			_, err := gluster.ParseVolumeStatusDetail(f.read("error-volume-status-missing-detail.xml"))
			return nil, err
		case vols[i].Status != "Started":
			// gluster fails ("Volume created is not started"); the CLI
			// answers no bricks.
			_, err := gluster.ParseVolumeStatusDetail(f.read("error-volume-status-" + strings.ToLower(vols[i].Status) + "-detail.xml"))
			var ce *gluster.CLIError
			if !errors.As(err, &ce) || !strings.Contains(ce.Message, "is not started") {
				return nil, fmt.Errorf("unexpected status of a %s volume: %v", vols[i].Status, err)
			}
			return nil, nil
		}
		if o, ok := overrides[volume]; ok {
			return gluster.ParseVolumeStatusDetail(f.read(o))
		}
	}
	all, err := gluster.ParseVolumeStatusDetail(f.read(file))
	if err != nil {
		return nil, err
	}
	var out []gluster.BrickStatus
	replaced := map[string]bool{}
	for _, b := range all {
		if volume != "" && b.Volume != volume {
			continue
		}
		o, ok := overrides[b.Volume]
		switch {
		case !ok:
			out = append(out, b)
		case !replaced[b.Volume]:
			replaced[b.Volume] = true
			st, err := gluster.ParseVolumeStatusDetail(f.read(o))
			if err != nil {
				return nil, err
			}
			out = append(out, st...)
		}
	}
	return out, nil
}

func (f *fakeSource) Peers(ctx context.Context) ([]gluster.Peer, error) {
	return call(f, ctx, peersCall, func() ([]gluster.Peer, error) {
		f.mu.Lock()
		file := f.peers
		f.mu.Unlock()
		return gluster.ParsePeerStatus(f.read(file))
	})
}

func (f *fakeSource) LocalUUID(ctx context.Context) (string, error) {
	return call(f, ctx, uuidCall, func() (string, error) {
		self, _, err := gluster.ParsePoolList(f.read("pool-list.xml"))
		return self.UUID, err
	})
}

func (f *fakeSource) OpVersion(ctx context.Context) (uint32, error) {
	return call(f, ctx, opVersionCall, func() (uint32, error) { return gluster.ParseOpVersion(f.read("op-version.xml")) })
}

func (f *fakeSource) Version(ctx context.Context) (string, error) {
	return call(f, ctx, versionCall, func() (string, error) { return gluster.ParseVersion(string(f.read("version.txt"))) })
}

// lockErr is what glusterd answers while another command holds a volume's
// lock.
func lockErr(vol string) error {
	return &gluster.CLIError{Op: "volume status " + vol + " detail", OpRet: -1, OpErrno: 30800,
		Message: "Another transaction is in progress for " + vol + ". Please try again after some time."}
}

// noGlusterdErr is what the CLI says when glusterd does not answer.
var noGlusterdErr = &gluster.CLIError{Op: "volume info all", ExitCode: 1,
	Message: "Connection failed. Please check if gluster daemon is operational."}

// fakeClock is a clock that moves only when told, plus a nanosecond at every
// reading so that readings are ordered.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 7, 6, 20, 18, 42, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Nanosecond)
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

const localStateCall = "LocalState()"

// LocalState serves what get-state on node 1 tells: its own bricks from
// the status capture, without process ids or inodes, which get-state lacks.
func (f *fakeSource) LocalState(ctx context.Context) (*gluster.LocalState, error) {
	return call(f, ctx, localStateCall, func() (*gluster.LocalState, error) {
		all, err := f.volumeStatus("")
		if err != nil {
			return nil, err
		}
		st := &gluster.LocalState{UUID: node1, OpVersion: 100000}
		for _, b := range all {
			if b.HostUUID == node1 {
				b.Pid, b.InodesTotal, b.InodesFree, b.Device, b.FsName, b.MountOptions = -1, 0, 0, "", "", ""
				st.Bricks = append(st.Bricks, b)
			}
		}
		return st, nil
	})
}

// PendingHeals: no brick of the captures has entries waiting for self-heal.
func (f *fakeSource) PendingHeals(context.Context, string, gluster.HealIndex) (gluster.HealIndex, error) {
	return gluster.HealIndex{}, nil
}

func healCall(vol string) string { return "HealSummary(" + vol + ")" }

// HealSummary tells one entry in split-brain on every brick of the volume,
// and one possibly healing.
func (f *fakeSource) HealSummary(ctx context.Context, volume string) ([]gluster.HealBrick, error) {
	return call(f, ctx, healCall(volume), func() ([]gluster.HealBrick, error) {
		vols, err := f.volumeInfo(volume)
		if err != nil {
			return nil, err
		}
		var out []gluster.HealBrick
		for _, v := range vols {
			for _, b := range v.Bricks {
				out = append(out, gluster.HealBrick{Host: b.Host, Path: b.Path, HostUUID: b.HostUUID, Connected: true,
					Total: 2, SplitBrain: 1, PossiblyHealing: 1})
			}
		}
		return out, nil
	})
}

const snapshotsCall = "Snapshots()"

// Snapshots serves the snapshot capture set by setSnapshots; without one,
// the node has no LVM tools, as the captures' node had none.
func (f *fakeSource) Snapshots(ctx context.Context) ([]gluster.Snapshot, error) {
	return call(f, ctx, snapshotsCall, func() ([]gluster.Snapshot, error) {
		f.mu.Lock()
		file := f.snapshots
		f.mu.Unlock()
		if file == "" {
			return nil, gluster.ErrSnapshotsUnavailable
		}
		return gluster.ParseSnapshotInfo(f.read(file))
	})
}

func (f *fakeSource) setSnapshots(file string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snapshots = file
}
