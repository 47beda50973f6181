package state

import (
	"fmt"
	"testing"
	"time"
)

// benchVolume is a started replica 3 volume like those of a real cluster:
// three bricks with their runtime, and the options glusterd sets at
// creation.
func benchVolume(i int) *Volume {
	name := fmt.Sprintf("vol%05d", i)
	v := &Volume{Name: name, ID: fmt.Sprintf("%08x-0000-4000-8000-000000000000", i), Status: "Started",
		Type: "Replicate", Transport: "tcp", BrickCount: 3, DistCount: 1, ReplicaCount: 3,
		Options: map[string]string{
			"cluster.granular-entry-heal":   "on",
			"storage.fips-mode-rchecksum":   "on",
			"transport.address-family":      "inet",
			"nfs.disable":                   "on",
			"performance.client-io-threads": "off",
		}}
	for n := 1; n <= 3; n++ {
		v.Bricks = append(v.Bricks, Brick{
			Host: fmt.Sprintf("127.1.1.%d", n), Path: fmt.Sprintf("/srv/n%d/bricks/%s", n, name),
			HostUUID: fmt.Sprintf("%08x-0000-4000-8000-00000000000%d", n, n),
			Online:   true, Pid: int64(10000 + 3*i + n), Port: uint32(49152 + (3*i+n)%16000),
			SizeTotal: 270553174016, SizeFree: 257782624256, InodesTotal: 16777216, InodesFree: 16359439,
			Device: "/dev/vda", FsName: "ext4", MountOptions: "rw,relatime,discard",
		})
	}
	return v
}

// benchSnapshot is a cluster of n such volumes on three nodes.
func benchSnapshot(n int) *Snapshot {
	s := NewSnapshot()
	for i := range n {
		v := benchVolume(i)
		s.Volumes[v.Name] = v
	}
	for n := 2; n <= 3; n++ {
		id := fmt.Sprintf("%08x-0000-4000-8000-00000000000%d", n, n)
		s.Peers[id] = &Peer{UUID: id, Hostname: fmt.Sprintf("127.1.1.%d", n), Hostnames: []string{fmt.Sprintf("127.1.1.%d", n)}, Connected: true, State: "Peer in Cluster"}
	}
	s.Glusterd = Glusterd{Running: true, UUID: "00000001-0000-4000-8000-000000000001", OpVersion: 100000, Version: "10.3"}
	return s
}

type countSink struct{ changes int }

func (c *countSink) Apply(ch []Change) { c.changes += len(ch) }

var benchClusterSizes = []int{50, 500, 5000}

// BenchmarkDiff compares the objects of a whole cluster (the full
// reconcile) and of one volume (a targeted update).
func BenchmarkDiff(b *testing.B) {
	for _, n := range benchClusterSizes {
		old, cur := benchSnapshot(n).Objects(), benchSnapshot(n).Objects()
		b.Run(fmt.Sprintf("whole-cluster-unchanged/volumes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if c := Diff(old, cur); len(c) != 0 {
					b.Fatalf("%d changes", len(c))
				}
			}
		})
	}
	before := appendVolumeObjects(nil, benchVolume(7))
	v := benchVolume(7)
	v.Options["performance.readdir-ahead"] = "off"
	after := appendVolumeObjects(nil, v)
	b.Run("one-volume-option-set", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if c := Diff(before, after); len(c) != 1 {
				b.Fatalf("%d changes", len(c))
			}
		}
	})
}

// BenchmarkModelSetVolume is a targeted update of one volume in clusters of
// growing size: its cost must not follow the cluster.
func BenchmarkModelSetVolume(b *testing.B) {
	for _, n := range benchClusterSizes {
		b.Run(fmt.Sprintf("option-set/volumes=%d", n), func(b *testing.B) {
			sink := &countSink{}
			m := NewModel(sink)
			m.SetAll(benchSnapshot(n))
			vols := [2]*Volume{benchVolume(n / 2), benchVolume(n / 2)}
			vols[1].Options["performance.readdir-ahead"] = "off"
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				if c := m.SetVolume(vols[i%2].Name, vols[i%2]); len(c) != 1 {
					b.Fatalf("%d changes", len(c))
				}
			}
		})
		b.Run(fmt.Sprintf("brick-offline/volumes=%d", n), func(b *testing.B) {
			m := NewModel(&countSink{})
			m.SetAll(benchSnapshot(n))
			vols := [2]*Volume{benchVolume(n / 2), benchVolume(n / 2)}
			vols[1].Bricks[1].Online, vols[1].Bricks[1].Pid, vols[1].Bricks[1].Port = false, -1, 0
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				// The brick and its volume (OnlineBrickCount, Health).
				if c := m.SetVolume(vols[i%2].Name, vols[i%2]); len(c) != 2 {
					b.Fatalf("%d changes", len(c))
				}
			}
		})
		// A volume created and deleted: the manager's Volumes list changes
		// too.
		b.Run(fmt.Sprintf("create+delete/volumes=%d", n), func(b *testing.B) {
			m := NewModel(&countSink{})
			m.SetAll(benchSnapshot(n))
			v := benchVolume(n + 1)
			b.ReportAllocs()
			for b.Loop() {
				if c := m.SetVolume(v.Name, v); len(c) != 5 {
					b.Fatalf("create: %d changes", len(c))
				}
				if c := m.SetVolume(v.Name, nil); len(c) != 5 {
					b.Fatalf("delete: %d changes", len(c))
				}
			}
		})
	}
}

// BenchmarkModelSetAll is the full refresh of 5 000 volumes x 3 bricks:
// the first one (every object added), and a reconcile that finds nothing
// or one option changed.
func BenchmarkModelSetAll(b *testing.B) {
	const n = 5000
	b.Run(fmt.Sprintf("first/volumes=%d", n), func(b *testing.B) {
		snap := benchSnapshot(n)
		b.ReportAllocs()
		for b.Loop() {
			m := NewModel(&countSink{})
			if c := m.SetAll(snap); len(c) != 2+2+4*n {
				b.Fatalf("%d changes", len(c))
			}
		}
	})
	b.Run(fmt.Sprintf("unchanged/volumes=%d", n), func(b *testing.B) {
		snaps := [2]*Snapshot{benchSnapshot(n), benchSnapshot(n)}
		m := NewModel(&countSink{})
		m.SetAll(benchSnapshot(n))
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			if c := m.SetAll(snaps[i%2]); len(c) != 0 {
				b.Fatalf("%d changes", len(c))
			}
		}
	})
	// What a reconcile of a quiet cluster finds where every volume
	// self-heals: the heal counts read anew (HealInfoTime), nothing else.
	b.Run(fmt.Sprintf("heal-time-only/volumes=%d", n), func(b *testing.B) {
		snaps := [2]*Snapshot{benchSnapshot(n), benchSnapshot(n)}
		for _, v := range snaps[1].Volumes {
			v.HealInfoTime = time.UnixMicro(1)
		}
		m := NewModel(&countSink{})
		m.SetAll(benchSnapshot(n))
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			if c := m.SetAll(snaps[i%2]); len(c) != n {
				b.Fatalf("%d changes", len(c))
			}
		}
	})
	b.Run(fmt.Sprintf("one-option-set/volumes=%d", n), func(b *testing.B) {
		snaps := [2]*Snapshot{benchSnapshot(n), benchSnapshot(n)}
		snaps[1].Volumes[xname(n/2)].Options["performance.readdir-ahead"] = "off"
		m := NewModel(&countSink{})
		m.SetAll(benchSnapshot(n))
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			if c := m.SetAll(snaps[i%2]); len(c) != 1 && i > 1 {
				b.Fatalf("%d changes", len(c))
			}
		}
	})
}

func xname(i int) string { return fmt.Sprintf("vol%05d", i) }
