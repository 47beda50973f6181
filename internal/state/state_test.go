package state

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

type recorder struct{ batches [][]Change }

func (r *recorder) Apply(c []Change) { r.batches = append(r.batches, c) }

func replica3(name string, online ...bool) *Volume {
	v := &Volume{Name: name, ID: "id-" + name, Status: "Started", Type: "Replicate",
		ReplicaCount: 3, BrickCount: 3, DistCount: 1, Transport: "tcp",
		Options: map[string]string{"performance.readdir-ahead": "off"}}
	for i, up := range online {
		v.Bricks = append(v.Bricks, Brick{Host: "127.1.1." + string(rune('1'+i)), Path: "/b/" + name,
			Online: up, Pid: -1})
	}
	return v
}

func TestHealth(t *testing.T) {
	cases := []struct {
		name string
		vol  *Volume
		want string
	}{
		{"all up", replica3("a", true, true, true), HealthUp},
		{"one of three down", replica3("a", true, false, true), HealthDegraded},
		{"two of three down", replica3("a", true, false, false), HealthDown},
		{"stopped", func() *Volume { v := replica3("a", false, false, false); v.Status = "Stopped"; return v }(), HealthStopped},
		{"replica 2, first up", &Volume{Status: "Started", ReplicaCount: 2, Bricks: []Brick{{Online: true}, {}}}, HealthDegraded},
		{"replica 2, first down", &Volume{Status: "Started", ReplicaCount: 2, Bricks: []Brick{{}, {Online: true}}}, HealthDown},
		{"disperse 3 r1, one down", &Volume{Status: "Started", DisperseCount: 3, RedundancyCount: 1, Bricks: []Brick{{Online: true}, {}, {Online: true}}}, HealthDegraded},
		{"disperse 3 r1, two down", &Volume{Status: "Started", DisperseCount: 3, RedundancyCount: 1, Bricks: []Brick{{Online: true}, {}, {}}}, HealthDown},
		{"distribute, one down", &Volume{Status: "Started", Bricks: []Brick{{Online: true}, {}}}, HealthDown},
		{"2x3, second set degraded", &Volume{Status: "Started", ReplicaCount: 3, Bricks: []Brick{
			{Online: true}, {Online: true}, {Online: true}, {Online: true}, {}, {Online: true}}}, HealthDegraded},
		{"started, no bricks", &Volume{Status: "Started"}, HealthDown},
	}
	for _, c := range cases {
		if got := c.vol.Health(); got != c.want {
			t.Errorf("%s: Health() = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestDiffOrderAndContent(t *testing.T) {
	old := NewSnapshot()
	old.Volumes["gone"] = replica3("gone", true, true, true)
	old.Volumes["kept"] = replica3("kept", true, true, true)
	cur := NewSnapshot()
	kept := replica3("kept", true, false, true)
	cur.Volumes["kept"] = kept
	cur.Volumes["new"] = replica3("new", true, true, true)

	changes := Diff(old.Objects(), cur.Objects())
	var got []string
	for _, c := range changes {
		got = append(got, c.Type.String()+" "+c.Ref.Kind.String()+" "+c.Ref.Key)
	}
	want := []string{
		"added volume new", "added brick 127.1.1.1:/b/new", "added brick 127.1.1.2:/b/new", "added brick 127.1.1.3:/b/new",
		"modified manager ", "modified volume kept", "modified brick 127.1.1.2:/b/kept",
		"removed volume gone", "removed brick 127.1.1.1:/b/gone", "removed brick 127.1.1.2:/b/gone", "removed brick 127.1.1.3:/b/gone",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("changes:\n got %q\nwant %q", got, want)
	}
	// The modified volume carries only what changed, with old values beside.
	for _, c := range changes {
		if c.Type == Modified && c.Ref == (Ref{KindVolume, "kept"}) {
			want := []Property{{"OnlineBrickCount", uint32(2)}, {"Health", HealthDegraded}}
			wantOld := []Property{{"OnlineBrickCount", uint32(3)}, {"Health", HealthUp}}
			if !reflect.DeepEqual(c.Props, want) || !reflect.DeepEqual(c.Old, wantOld) {
				t.Fatalf("volume change = %+v / %+v", c.Props, c.Old)
			}
		}
	}
}

func TestDiffNothingChanged(t *testing.T) {
	s := NewSnapshot()
	s.Volumes["a"] = replica3("a", true, true, true)
	s.Peers["u1"] = &Peer{UUID: "u1", Hostnames: []string{"h"}, Connected: true}
	if c := Diff(s.Objects(), s.Objects()); len(c) != 0 {
		t.Fatalf("identical snapshots gave %d changes", len(c))
	}
	// Equal values in different maps and slices are equal.
	t2 := NewSnapshot()
	t2.Volumes["a"] = replica3("a", true, true, true)
	t2.Peers["u1"] = &Peer{UUID: "u1", Hostnames: []string{"h"}, Connected: true}
	if c := Diff(s.Objects(), t2.Objects()); len(c) != 0 {
		t.Fatalf("equal snapshots gave %v", c)
	}
}

func TestModelTargetedUpdates(t *testing.T) {
	rec := &recorder{}
	m := NewModel(rec)
	m.SetAll(func() *Snapshot { s := NewSnapshot(); s.Volumes["a"] = replica3("a", true, true, true); return s }())
	rec.batches = nil

	// An option set touches only the volume object.
	v := replica3("a", true, true, true)
	v.Options = map[string]string{"performance.readdir-ahead": "on"}
	c := m.SetVolume("a", v)
	if len(c) != 1 || c[0].Ref != (Ref{KindVolume, "a"}) || len(c[0].Props) != 1 || c[0].Props[0].Name != "Options" {
		t.Fatalf("option change = %+v", c)
	}
	// The same again: nothing.
	if c := m.SetVolume("a", replica3("a", true, true, true)); len(c) != 1 {
		t.Fatalf("reverting the option = %+v", c)
	}
	if c := m.SetVolume("a", replica3("a", true, true, true)); len(c) != 0 {
		t.Fatalf("unchanged volume gave %+v", c)
	}
	// A deletion removes the volume and its bricks and updates the manager.
	c = m.SetVolume("a", nil)
	if len(c) != 5 || c[0].Type != Modified || c[0].Ref.Kind != KindManager || c[1].Type != Removed {
		t.Fatalf("deletion = %+v", c)
	}
	if got := c[0].Props[0].Value.(VolumeList).Refs(); len(got) != 0 {
		t.Fatalf("manager still lists %v", got)
	}
	// Removing an unknown volume is a no-op.
	if c := m.SetVolume("nope", nil); len(c) != 0 {
		t.Fatalf("removing an unknown volume gave %+v", c)
	}
	if len(rec.batches) != 3 {
		t.Fatalf("sink saw %d batches, want 3", len(rec.batches))
	}
}

func TestModelPeersAndGlusterd(t *testing.T) {
	m := NewModel()
	c := m.SetPeers(map[string]*Peer{"u1": {UUID: "u1", Connected: true, State: "Peer in Cluster"}})
	if len(c) != 2 || c[0].Type != Added || c[1].Ref.Kind != KindManager {
		t.Fatalf("peer added = %+v", c)
	}
	c = m.SetPeers(map[string]*Peer{"u1": {UUID: "u1", Connected: false, State: "Peer in Cluster"}})
	if len(c) != 1 || c[0].Props[0].Name != "Connected" || c[0].Props[0].Value != false {
		t.Fatalf("peer disconnected = %+v", c)
	}
	c = m.SetGlusterd(Glusterd{Running: true, UUID: "me"})
	if len(c) != 1 || len(c[0].Props) != 2 {
		t.Fatalf("glusterd = %+v", c)
	}
}

// TestUpdateServiceConcurrent: parts of the daemon that each own a field of
// the service update it at the same time, and none undoes another's update.
func TestUpdateServiceConcurrent(t *testing.T) {
	m := NewModel()
	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			m.UpdateService(func(s *Service) { s.Webhooks = append(s.Webhooks, WebhookState{URL: fmt.Sprint(i)}) })
		}()
		go func() {
			defer wg.Done()
			m.UpdateService(func(s *Service) { s.JournalError = fmt.Sprint("error ", i) })
		}()
	}
	wg.Wait()
	s := m.Service()
	if len(s.Webhooks) != n || s.JournalError == "" {
		t.Fatalf("%d of %d webhook updates kept, JournalError %q", len(s.Webhooks), n, s.JournalError)
	}
	c := m.UpdateService(func(s *Service) { s.Webhooks[0].State = "failing" })
	if len(c) != 1 || c[0].Props[0].Name != "Webhooks" || m.Service().Webhooks[0].State != "failing" {
		t.Fatalf("changing a webhook in place: %+v", c)
	}
}

// TestSetAllAsAFullDiff: SetAll, which turns only the volumes and bricks
// that changed into objects, reports exactly what a diff of every object of
// the two snapshots reports, in the same order, over random changes.
func TestSetAllAsAFullDiff(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	clone := func(s *Snapshot) *Snapshot {
		c := NewSnapshot()
		c.Glusterd = s.Glusterd
		for k, v := range s.Volumes {
			cv := *v
			cv.Options = maps.Clone(v.Options)
			cv.Bricks = slices.Clone(v.Bricks)
			cv.Tasks = slices.Clone(v.Tasks)
			c.Volumes[k] = &cv
		}
		for k, p := range s.Peers {
			cp := *p
			c.Peers[k] = &cp
		}
		for k, sn := range s.Snapshots {
			c.Snapshots[k] = sn
		}
		return c
	}
	pick := func(s *Snapshot) *Volume {
		names := slices.Sorted(maps.Keys(s.Volumes))
		if len(names) == 0 {
			return nil
		}
		return s.Volumes[names[rng.IntN(len(names))]]
	}
	mutations := []func(s *Snapshot){
		func(s *Snapshot) {
			if v := pick(s); v != nil {
				v.Options[fmt.Sprintf("user.k%d", rng.IntN(3))] = fmt.Sprint(rng.IntN(3))
			}
		},
		func(s *Snapshot) {
			if v := pick(s); v != nil && len(v.Bricks) > 0 {
				b := &v.Bricks[rng.IntN(len(v.Bricks))]
				b.Online, b.Pid = !b.Online, int64(rng.IntN(3))
			}
		},
		func(s *Snapshot) {
			if v := pick(s); v != nil {
				v.HealInfoTime = time.UnixMicro(int64(rng.IntN(3))).Add(time.Duration(rng.IntN(999)))
			}
		},
		func(s *Snapshot) {
			if v := pick(s); v != nil {
				b := Brick{Host: "h", Path: fmt.Sprintf("/%s/b%d", v.Name, rng.IntN(3)), Pid: -1}
				if !slices.Contains(v.Bricks, b) {
					v.Bricks = append(v.Bricks, b)
				}
			}
		},
		func(s *Snapshot) {
			// A brick moves to another volume.
			from, to := pick(s), pick(s)
			if from != nil && from != to && len(from.Bricks) > 0 {
				b := from.Bricks[len(from.Bricks)-1]
				from.Bricks = from.Bricks[:len(from.Bricks)-1]
				to.Bricks = append(to.Bricks, b)
			}
		},
		func(s *Snapshot) {
			if v := pick(s); v != nil && len(v.Bricks) > 0 {
				v.Bricks = slices.Delete(v.Bricks, 0, 1)
			}
		},
		func(s *Snapshot) {
			if v := pick(s); v != nil && len(v.Bricks) > 1 {
				v.Bricks[0], v.Bricks[1] = v.Bricks[1], v.Bricks[0]
			}
		},
		func(s *Snapshot) {
			if v := pick(s); v != nil {
				delete(s.Volumes, v.Name)
			}
		},
		func(s *Snapshot) {
			v := benchVolume(rng.IntN(8))
			s.Volumes[v.Name] = v
		},
		func(s *Snapshot) {
			if v := pick(s); v != nil {
				v.Tasks = append(v.Tasks, Task{ID: "t", Status: fmt.Sprint(rng.IntN(2)), Figures: map[string]string{"files": "1"}})
			}
		},
		func(s *Snapshot) {
			if v := pick(s); v != nil {
				v.Status = []string{"Started", "Stopped"}[rng.IntN(2)]
			}
		},
		func(s *Snapshot) { s.Glusterd.LastRefresh = time.UnixMicro(int64(rng.IntN(3))) },
		func(s *Snapshot) {
			for _, p := range s.Peers {
				p.Connected = rng.IntN(2) == 0
			}
		},
	}
	// A brick in two volumes at once, which glusterd never shows.
	duplicate := func(s *Snapshot) {
		from, to := pick(s), pick(s)
		if from != nil && to != nil && len(from.Bricks) > 0 {
			to.Bricks = append(to.Bricks, from.Bricks[0])
		}
	}
	for _, dups := range []bool{false, true} {
		if dups {
			mutations = append(mutations, duplicate)
		}
		setAllAsAFullDiff(t, rng, clone, pick, mutations)
	}
}

func setAllAsAFullDiff(t *testing.T, rng *rand.Rand, clone func(*Snapshot) *Snapshot, pick func(*Snapshot) *Volume, mutations []func(*Snapshot)) {
	t.Helper()
	prev := benchSnapshot(6)
	m := NewModel()
	m.SetAll(clone(prev))
	for round := range 2000 {
		next := clone(prev)
		for range 1 + rng.IntN(4) {
			mutations[rng.IntN(len(mutations))](next)
		}
		if rng.IntN(4) == 0 {
			// A targeted update between two full ones.
			other := clone(prev)
			mutations[rng.IntN(len(mutations))](other)
			if v := pick(other); v != nil {
				m.SetVolume(v.Name, v)
				prev.Volumes[v.Name] = v
			}
		}
		want := plainChanges(Diff(prev.Objects(), next.Objects()))
		got := plainChanges(m.SetAll(clone(next)))
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("round %d: SetAll reported\n%+v\nwant\n%+v", round, got, want)
		}
		prev = next
	}
}

// plainChanges returns changes with each VolumeList made into its refs,
// for reflect.DeepEqual: two lists of the same volumes may be trees of
// another shape.
func plainChanges(changes []Change) []Change {
	plain := func(props []Property) []Property {
		if props == nil {
			return nil
		}
		out := slices.Clone(props)
		for i, p := range out {
			if l, ok := p.Value.(VolumeList); ok {
				out[i].Value = l.Refs()
			}
		}
		return out
	}
	out := slices.Clone(changes)
	for i, c := range out {
		out[i].Props, out[i].Old, out[i].Cur = plain(c.Props), plain(c.Old), plain(c.Cur)
		if src, ok := c.Source.(propsSource); ok {
			out[i].Source = propsSource(plain(src))
		}
	}
	return out
}

// TestClusterStreamOnManager: the stream's condition is shown on the
// manager, and only what changed is a change.
func TestClusterStreamOnManager(t *testing.T) {
	m := NewModel()
	cs := ClusterStreamState{State: "connected", Cursor: 5, Published: 5}
	c := m.UpdateService(func(s *Service) { s.ClusterStream = cs })
	if len(c) != 1 || len(c[0].Props) != 3 {
		t.Fatalf("first condition: %+v", c)
	}
	if c := m.UpdateService(func(s *Service) { s.ClusterStream = cs }); len(c) != 0 {
		t.Fatalf("the same condition again: %+v", c)
	}
	c = m.UpdateService(func(s *Service) { s.ClusterStream.State, s.ClusterStream.LastError = "failing", "no quorum" })
	var names []string
	for _, p := range c[0].Props {
		names = append(names, p.Name)
	}
	if strings.Join(names, " ") != "ClusterStream ClusterStreamLastError" {
		t.Fatalf("failing: changed %v", names)
	}
}

// TestVolumeListIsNeverChanged: the manager's list of volumes a change
// carried stays as it was when volumes come and go later, and lists of the
// same volumes are equal however they were made.
func TestVolumeListIsNeverChanged(t *testing.T) {
	m := NewModel()
	snap := NewSnapshot()
	for _, name := range []string{"b", "d", "a"} {
		snap.Volumes[name] = replica3(name, true, true, true)
	}
	m.SetAll(snap)
	names := func(l VolumeList) (out []string) {
		for r := range l.All() {
			out = append(out, r.Key)
		}
		return out
	}
	// The manager's Volumes after and before a change of the model.
	lists := func(changes []Change) (after, before VolumeList) {
		for _, c := range changes {
			if c.Ref.Kind == KindManager && c.Type == Modified {
				return c.Props[0].Value.(VolumeList), c.Old[0].Value.(VolumeList)
			}
		}
		t.Fatalf("no change of the manager in %+v", changes)
		return
	}
	withC, old := lists(m.SetVolume("c", replica3("c", true, true, true)))
	withoutA, _ := lists(m.SetVolume("a", nil))
	if got := names(old); !slices.Equal(got, []string{"a", "b", "d"}) {
		t.Errorf("the list before the creation is now %q", got)
	}
	if got := names(withC); !slices.Equal(got, []string{"a", "b", "c", "d"}) {
		t.Errorf("the list after the creation is now %q", got)
	}
	if got := names(withoutA); !slices.Equal(got, []string{"b", "c", "d"}) || withoutA.Len() != 3 {
		t.Errorf("the list after the deletion is %q (%d)", got, withoutA.Len())
	}
	// The same volumes in a list made at once, and back to them by a
	// creation and a deletion: equal; one volume more or another: not.
	lists(m.SetVolume("a", replica3("a", true, true, true)))
	again, _ := lists(m.SetVolume("c", nil))
	fresh := &Snapshot{Volumes: map[string]*Volume{"a": nil, "b": nil, "d": nil}}
	if !Equal(again, old) || !Equal(old, VolumeList{fresh.volumeIndex()}) {
		t.Errorf("lists of a, b, d differ: %q, %q", names(again), names(old))
	}
	other := &Snapshot{Volumes: map[string]*Volume{"b": nil, "c": nil, "e": nil}}
	if Equal(withC, old) || Equal(withoutA, VolumeList{other.volumeIndex()}) {
		t.Error("lists of other volumes are equal")
	}
	if got := (VolumeList{}).Refs(); len(got) != 0 {
		t.Errorf("an empty list holds %v", got)
	}
}

// TestVolumeListReadWhileVolumesComeAndGo: a sink may read a list it was
// given (a client's Get of Manager.Volumes) while the model makes the next
// ones from it; under the race detector this shows they share nothing
// written.
func TestVolumeListReadWhileVolumesComeAndGo(t *testing.T) {
	lists := make(chan VolumeList, 64)
	m := NewModel(sinkFunc(func(changes []Change) {
		for _, c := range changes {
			if c.Ref.Kind == KindManager && c.Type == Modified {
				lists <- c.Props[0].Value.(VolumeList)
			}
		}
	}))
	snap := NewSnapshot()
	for i := range 200 {
		name := fmt.Sprintf("v%03d", i)
		snap.Volumes[name] = replica3(name, true, true, true)
	}
	m.SetAll(snap)
	done := make(chan error)
	go func() {
		for l := range lists {
			n := 0
			for range l.All() {
				n++
			}
			if n != l.Len() || len(l.Refs()) != n {
				done <- fmt.Errorf("a list of %d yields %d", l.Len(), n)
				return
			}
		}
		done <- nil
	}()
	for i := range 1000 {
		name := fmt.Sprintf("new%03d", i/2%50) // created, then deleted
		if i%2 == 0 {
			m.SetVolume(name, replica3(name, true, true, true))
		} else {
			m.SetVolume(name, nil)
		}
	}
	close(lists)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

type sinkFunc func([]Change)

func (f sinkFunc) Apply(c []Change) { f(c) }
