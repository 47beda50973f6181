package events

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/journal"
	"github.com/glusterbus/glusterbus/internal/nativeevents"
	"github.com/glusterbus/glusterbus/internal/state"
	"github.com/glusterbus/glusterbus/internal/testbed"
)

func fields(kv ...string) []journal.Field {
	var out []journal.Field
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, journal.Field{Key: kv[i], Value: kv[i+1]})
	}
	return out
}

func pathOf(r state.Ref) string { return "/" + r.Kind.String() + "/" + r.Key }

func vol(status string, opts map[string]string, online ...bool) *state.Volume {
	v := &state.Volume{Name: "gv0", ID: "id0", Status: status, Type: "Replicate", ReplicaCount: uint32(len(online)), Options: opts}
	for i, up := range online {
		v.Bricks = append(v.Bricks, state.Brick{Host: fmt.Sprintf("h%d", i+1), Path: "/b", Online: up, Pid: -1})
	}
	return v
}

func names(evs []journal.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Name)
	}
	return out
}

func TestFromChanges(t *testing.T) {
	m := state.NewModel()
	m.SetAll(state.NewSnapshot())
	step := func(v *state.Volume) []journal.Event {
		return FromChanges(m.SetVolume("gv0", v), "node-1", pathOf)
	}
	evs := step(vol("Created", nil, false, false, false))
	if got := names(evs); !reflect.DeepEqual(got, []string{VolumeCreate}) {
		t.Fatalf("create: %v", got)
	}
	if evs[0].Object != "/volume/gv0" || evs[0].Node != "node-1" || evs[0].Source != SourceDiff ||
		!reflect.DeepEqual(evs[0].Fields, fields("name", "gv0", "id", "id0", "type", "Replicate", "status", "Created")) {
		t.Fatalf("create event: %+v", evs[0])
	}
	evs = step(vol("Started", nil, true, true, true))
	if got := names(evs); !reflect.DeepEqual(got, []string{VolumeStart, VolumeHealthChanged, BrickOnline, BrickOnline, BrickOnline}) {
		t.Fatalf("start: %v", got)
	}
	evs = step(vol("Started", map[string]string{"a": "1", "b": "2"}, true, false, true))
	if got := names(evs); !reflect.DeepEqual(got, []string{VolumeSet, VolumeHealthChanged, BrickOffline}) {
		t.Fatalf("set + brick down: %v", got)
	}
	if !reflect.DeepEqual(evs[0].Fields, fields("name", "gv0", "option.a", "1", "option.b", "2")) {
		t.Fatalf("VOLUME_SET fields %v", evs[0].Fields)
	}
	if !reflect.DeepEqual(evs[1].Fields, fields("name", "gv0", "old", "up", "new", "degraded")) {
		t.Fatalf("health fields %v", evs[1].Fields)
	}
	if !reflect.DeepEqual(evs[2].Fields, fields("volume", "gv0", "brick", "h2:/b")) || evs[2].Object != "/brick/h2:/b" {
		t.Fatalf("brick event %+v", evs[2])
	}
	evs = step(vol("Started", map[string]string{"b": "3"}, true, false, true, false))
	if got := names(evs); !reflect.DeepEqual(got, []string{BrickAdded, VolumeSet, VolumeReset}) {
		t.Fatalf("option change, reset, add-brick: %v", got)
	}
	evs = step(vol("Stopped", map[string]string{"b": "3"}, false, false, false, false))
	if got := names(evs); !reflect.DeepEqual(got, []string{VolumeStop, VolumeHealthChanged, BrickOffline, BrickOffline}) {
		t.Fatalf("stop: %v", got)
	}
	evs = step(nil)
	if got := names(evs); !reflect.DeepEqual(got, []string{VolumeDelete}) {
		t.Fatalf("delete: %v (bricks go with the volume)", got)
	}

	evs = FromChanges(m.SetPeers(map[string]*state.Peer{"u2": {UUID: "u2", Hostname: "h2", Connected: true}}), "n", pathOf)
	if got := names(evs); !reflect.DeepEqual(got, []string{PeerAttach}) {
		t.Fatalf("peer attach: %v", got)
	}
	evs = FromChanges(m.SetPeers(map[string]*state.Peer{"u2": {UUID: "u2", Hostname: "h2"}}), "n", pathOf)
	if got := names(evs); !reflect.DeepEqual(got, []string{PeerDisconnect}) || !reflect.DeepEqual(evs[0].Fields, fields("host", "h2", "uuid", "u2")) {
		t.Fatalf("peer disconnect: %v", evs)
	}
	evs = FromChanges(m.SetPeers(map[string]*state.Peer{}), "n", pathOf)
	if got := names(evs); !reflect.DeepEqual(got, []string{PeerDetach}) {
		t.Fatalf("peer detach: %v", got)
	}
	m.SetGlusterd(state.Glusterd{Running: true})
	evs = FromChanges(m.SetGlusterd(state.Glusterd{Running: false, LastError: "x"}), "n", pathOf)
	if got := names(evs); !reflect.DeepEqual(got, []string{GlusterdDown}) {
		t.Fatalf("glusterd down: %v", got)
	}
}

func TestFromNative(t *testing.T) {
	ev, err := nativeevents.Parse([]byte("1795491251 6 name=rv;options=,performance.readdir-ahead,off"))
	if err != nil {
		t.Fatal(err)
	}
	j := FromNative(ev, "node", pathOf)
	if j.Name != "VOLUME_SET" || j.Source != SourceNative || j.Object != "/volume/rv" || j.Time.Unix() != 1795491251 ||
		!reflect.DeepEqual(j.Fields, fields("name", "rv", "option.performance.readdir-ahead", "off")) {
		t.Fatalf("%+v", j)
	}
}

// TestWriterAndPublish: everything offered or put is journaled once, in
// order, and published in sequence order.
func TestWriterAndPublish(t *testing.T) {
	j, err := journal.Open(filepath.Join(t.TempDir(), "j.db"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w := NewWriter(j, 1<<14, log, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()

	pubCtx, stopPub := context.WithCancel(context.Background())
	defer stopPub()
	got := make(chan journal.Event, 10000)
	go Publish(pubCtx, j, j.LastSeq(), func(ev journal.Event) { got <- ev })

	const n = 5000
	for i := range n {
		ev := journal.Event{Name: "E", Fields: fields("i", fmt.Sprint(i))}
		if i%2 == 0 {
			if !w.Offer(ev) {
				t.Fatalf("event %d refused", i)
			}
		} else {
			w.Put(ev)
		}
	}
	for i := range n {
		select {
		case ev := <-got:
			if ev.Seq != uint64(i+1) || ev.Fields[0].Value != fmt.Sprint(i) {
				t.Fatalf("published #%d: seq %d fields %v", i, ev.Seq, ev.Fields)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("only %d of %d events published", i, n)
		}
	}
	cancel()
	<-done
	if j.LastSeq() != n {
		t.Fatalf("journal holds %d events", j.LastSeq())
	}
}

// TestWriterFlushesAtShutdown: events queued when the writer is told to
// stop are still journaled.
func TestWriterFlushesAtShutdown(t *testing.T) {
	j, err := journal.Open(filepath.Join(t.TempDir(), "j.db"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	w := NewWriter(j, 1000, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	for range 500 {
		w.Put(journal.Event{Name: "E"})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w.Run(ctx)
	if j.LastSeq() != 500 {
		t.Fatalf("journaled %d of 500", j.LastSeq())
	}
	// A full queue refuses and counts.
	small := NewWriter(j, 1, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	small.Offer(journal.Event{Name: "E"})
	if small.Offer(journal.Event{Name: "E"}) || small.Refused() != 1 {
		t.Fatal("a full queue accepted an event")
	}
}

// TestPublishFromTheStartingPoint: an event committed after the starting
// point was taken, but before the publisher runs, is still published.
func TestPublishFromTheStartingPoint(t *testing.T) {
	j, err := journal.Open(filepath.Join(t.TempDir(), "j.db"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if _, err := j.Append(context.Background(), journal.Event{Name: "BEFORE"}); err != nil {
		t.Fatal(err)
	}
	after := j.LastSeq()
	if _, err := j.Append(context.Background(), journal.Event{Name: "RACED"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan journal.Event, 10)
	go Publish(ctx, j, after, func(ev journal.Event) { got <- ev })
	select {
	case ev := <-got:
		if ev.Name != "RACED" || ev.Seq != 2 {
			t.Fatalf("published %d %s first", ev.Seq, ev.Name)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the event committed before the publisher ran was not published")
	}
}

// TestPutNeverWaits: Offer refuses beyond the capacity, Put does not and
// returns at once; the writer then journals everything accepted in order.
func TestPutNeverWaits(t *testing.T) {
	j, err := journal.Open(filepath.Join(t.TempDir(), "j.db"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	w := NewWriter(j, 4, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	var want []string
	for i := range 6 {
		name := fmt.Sprint("N", i)
		if w.Offer(journal.Event{Name: name}) {
			want = append(want, name)
		}
	}
	if len(want) != 4 || w.Refused() != 2 {
		t.Fatalf("accepted %v, refused %d", want, w.Refused())
	}
	put := make(chan struct{})
	go func() {
		for i := range maxBatch + 10 {
			w.Put(journal.Event{Name: fmt.Sprint("P", i)})
		}
		close(put)
	}()
	select {
	case <-put:
	case <-time.After(10 * time.Second):
		t.Fatal("Put waited for room")
	}
	for i := range maxBatch + 10 {
		want = append(want, fmt.Sprint("P", i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	if err := j.Wait(ctx, uint64(len(want)-1)); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	var got []string
	for since := uint64(0); ; {
		evs, err := j.Range(since, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		got = append(got, names(evs)...)
		since = evs[len(evs)-1].Seq
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("journaled %d events, want %d in order", len(got), len(want))
	}
}

// TestDiskFullUnderModelLock: the journal's disk is full and the queue is
// full of native events; state changes keep coming under the model's lock,
// and the writer tells the model about the journal's state. Once space
// returns, everything accepted is journaled in order and the model still
// answers.
func TestDiskFullUnderModelLock(t *testing.T) {
	if os.Getuid() != 0 {
		testbed.Missing(t, "needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		testbed.Missing(t, "cannot mount a tmpfs: %v %s", err, out)
	}
	defer exec.Command("umount", "-l", dir).Run()
	j, err := journal.Open(filepath.Join(dir, "j.db"), journal.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()

	model := state.NewModel()
	model.SetAll(state.NewSnapshot())
	w := NewWriter(j, 16, slog.New(slog.NewTextHandler(io.Discard, nil)), func(err error) {
		model.UpdateService(func(s *state.Service) {
			s.JournalError = ""
			if err != nil {
				s.JournalError = err.Error()
			}
		})
	})
	model.AddSink(NewRecorder(w, "node", pathOf))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	fillDisk(t, filepath.Join(dir, "filler"))
	var want []string
	pad := fields("pad", strings.Repeat("p", 1000))
	offer := func(name string) {
		if w.Offer(journal.Event{Name: name, Fields: pad}) {
			want = append(want, name)
		}
	}
	// Until the journal fails and the queue is full.
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; w.Refused() == 0 || model.Service().JournalError == ""; i++ {
		offer(fmt.Sprint("N", i))
		if w.Refused() > 0 {
			time.Sleep(time.Millisecond)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the journal kept writing on a full disk (refused %d)", w.Refused())
		}
	}

	changed := make(chan struct{})
	go func() {
		defer close(changed)
		for i := range 50 {
			model.SetVolume("gv0", vol("Created", map[string]string{"n": fmt.Sprint(i)}))
		}
	}()
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Fatal("state changes waited for the journal under the model's lock")
	}
	want = append(want, VolumeCreate)
	for range 49 {
		want = append(want, VolumeSet)
	}
	offer("LAST")
	if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "every accepted event journaled", func() bool { return j.LastSeq() >= uint64(len(want)) })
	waitUntil(t, "JournalError cleared", func() bool { return model.Service().JournalError == "" })
	evs, err := j.Range(0, 10*len(want))
	if err != nil {
		t.Fatal(err)
	}
	if got := names(evs); !reflect.DeepEqual(got, want) {
		t.Fatalf("journaled %d events, want %d in order:\n%v\n%v", len(got), len(want), got, want)
	}
	if _, ok := model.Volume("gv0"); !ok {
		t.Fatal("the model lost the volume")
	}
}

// fillDisk writes path until its file system is full.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 16<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWriterCountsAndEnd: the counts say what was accepted and journaled;
// once Run has returned, Offer refuses and Put is counted as late.
func TestWriterCountsAndEnd(t *testing.T) {
	j, err := journal.Open(filepath.Join(t.TempDir(), "j.db"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	w := NewWriter(j, 1000, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	for range 30 {
		w.Offer(journal.Event{Name: "N", Source: SourceNative})
	}
	w.Put(journal.Event{Name: "D", Source: SourceDiff}, journal.Event{Name: "D", Source: SourceDiff})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w.Run(ctx)
	if w.Offer(journal.Event{Name: "N", Source: SourceNative}) {
		t.Fatal("an event was accepted after the writer ended")
	}
	w.Put(journal.Event{Name: "D", Source: SourceDiff})
	want := Counts{Accepted: 30, Refused: 1, Journaled: 32, JournaledNative: 30, Late: 1}
	if got := w.Counts(); got != want {
		t.Fatalf("counts %+v, want %+v", got, want)
	}
	if j.LastSeq() != 32 {
		t.Fatalf("journal holds %d events", j.LastSeq())
	}
}

// TestPublishCatchesUpAtTheEnd: told to stop, Publish still emits what was
// journaled by then.
func TestPublishCatchesUpAtTheEnd(t *testing.T) {
	j, err := journal.Open(filepath.Join(t.TempDir(), "j.db"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for range 2500 {
		if _, err := j.Append(context.Background(), journal.Event{Name: "E"}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var n int
	if err := Publish(ctx, j, 0, func(journal.Event) { n++ }); err != nil {
		t.Fatal(err)
	}
	if n != 2500 {
		t.Fatalf("published %d of 2500", n)
	}
}

func TestTaskEvents(t *testing.T) {
	m := state.NewModel()
	m.SetAll(state.NewSnapshot())
	v := vol("Started", nil, true)
	m.SetVolume("gv0", v)
	step := func(tasks ...state.Task) []string {
		next := *v
		next.Tasks = tasks
		return names(FromChanges(m.SetVolume("gv0", &next), "node-1", pathOf))
	}
	reb := func(id, status string) state.Task {
		return state.Task{ID: id, Type: "Rebalance", Status: status, Figures: map[string]string{"files": "0"}}
	}
	for _, tc := range []struct {
		tasks []state.Task
		want  []string
	}{
		{[]state.Task{reb("r1", "in progress")}, []string{VolumeRebalanceStart}},
		{[]state.Task{reb("r1", "in progress")}, nil},
		{[]state.Task{{ID: "r1", Type: "Rebalance", Status: "completed", Figures: map[string]string{"files": "12"}}}, []string{VolumeRebalanceComplete}},
		{[]state.Task{reb("r2", "failed")}, []string{VolumeRebalanceFailed}}, // its run was missed
		{[]state.Task{{ID: "b1", Type: "Remove brick", Status: "in progress"}}, []string{VolumeRemoveBrickStart}},
		{[]state.Task{{ID: "b1", Type: "Remove brick", Status: "stopped"}}, []string{VolumeRemoveBrickStop}},
		{[]state.Task{{ID: "b2", Type: "Remove brick", Status: "completed"}}, []string{VolumeRemoveBrickComplete}},
		{nil, nil}, // committed: the task is gone
	} {
		if got := step(tc.tasks...); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("tasks %+v: events %v, want %v", tc.tasks, got, tc.want)
		}
	}
	// The fields name the task and carry its figures.
	next := *v
	next.Tasks = []state.Task{{ID: "r9", Type: "Rebalance", Status: "completed", Figures: map[string]string{"files": "3", "size": "10"}}}
	evs := FromChanges(m.SetVolume("gv0", &next), "node-1", pathOf)
	want := fields("name", "gv0", "id", "r9", "type", "Rebalance", "status", "completed", "files", "3", "size", "10")
	if len(evs) != 1 || !reflect.DeepEqual(evs[0].Fields, want) {
		t.Errorf("fields = %+v, want %+v", evs, want)
	}
}

func TestHealEvents(t *testing.T) {
	m := state.NewModel()
	m.SetAll(state.NewSnapshot())
	v := vol("Started", nil, true, true)
	m.SetVolume("gv0", v)
	step := func(pending, split uint64) []string {
		next := *v
		next.HealPendingEntries, next.SplitBrainEntries = pending, split
		return names(FromChanges(m.SetVolume("gv0", &next), "node-1", pathOf))
	}
	for _, tc := range []struct {
		pending, split uint64
		want           []string
	}{
		{0, 0, nil},
		{8, 0, []string{VolumeHealPending}},
		{12, 0, nil},
		{12, 1, []string{AFRSplitBrain}},
		{3, 2, nil},
		{0, 0, []string{VolumeSplitBrainResolved, VolumeHealDone}},
	} {
		if got := step(tc.pending, tc.split); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("pending %d split %d: events %v, want %v", tc.pending, tc.split, got, tc.want)
		}
	}
}

func TestSnapshotEvents(t *testing.T) {
	m := state.NewModel()
	m.SetAll(state.NewSnapshot())
	step := func(snaps ...state.VolumeSnapshot) []journal.Event {
		next := map[string]*state.VolumeSnapshot{}
		for _, s := range snaps {
			next[s.Name] = &s
		}
		return FromChanges(m.SetSnapshots(next), "node-1", pathOf)
	}
	s1 := state.VolumeSnapshot{Name: "s1", ID: "u1", OriginVolume: "gv0", Status: "Stopped", CreateTime: "2026-12-05 02:00:01"}
	evs := step(s1)
	want := fields("snapshot_name", "s1", "volume_name", "gv0", "snapshot_uuid", "u1")
	if !reflect.DeepEqual(names(evs), []string{SnapshotCreated}) || !reflect.DeepEqual(evs[0].Fields, want) ||
		evs[0].Object != "/snapshot/s1" {
		t.Errorf("create: %+v", evs)
	}
	s1.Status = "Started"
	if got := names(step(s1)); !reflect.DeepEqual(got, []string{SnapshotActivated}) {
		t.Errorf("activate: %v", got)
	}
	s1.Status = "Stopped"
	if got := names(step(s1)); !reflect.DeepEqual(got, []string{SnapshotDeactivated}) {
		t.Errorf("deactivate: %v", got)
	}
	if got := names(step()); !reflect.DeepEqual(got, []string{SnapshotDeleted}) {
		t.Errorf("delete: %v", got)
	}
}
