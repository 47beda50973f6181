package refresh

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"

	"github.com/glusterbus/glusterbus/internal/gluster"
	"github.com/glusterbus/glusterbus/internal/state"
)

// memSource answers from memory, the same every time: a quiet cluster of
// replica 3 volumes, one brick of each on this node.
type memSource struct {
	vols  []gluster.Volume
	local gluster.LocalState
	peers []gluster.Peer
}

func newMemSource(n int) *memSource {
	uuid := func(i int) string { return fmt.Sprintf("%08x-0000-4000-8000-00000000000%d", i, i) }
	s := &memSource{local: gluster.LocalState{UUID: uuid(1), OpVersion: 100000, Healed: map[string]bool{}}}
	for i := range n {
		name := fmt.Sprintf("vol%05d", i)
		v := gluster.Volume{Name: name, ID: fmt.Sprintf("%08x-0000-4000-8000-000000000000", i), Status: "Started",
			Type: "Replicate", Transport: "tcp", BrickCount: 3, DistCount: 1, ReplicaCount: 3,
			Options: map[string]string{"nfs.disable": "on", "transport.address-family": "inet"}}
		for j := 1; j <= 3; j++ {
			host, path := fmt.Sprintf("127.1.1.%d", j), fmt.Sprintf("/srv/n%d/bricks/%s", j, name)
			v.Bricks = append(v.Bricks, gluster.Brick{Name: host + ":" + path, Host: host, Path: path, HostUUID: uuid(j)})
		}
		s.vols = append(s.vols, v)
		s.local.Volumes = append(s.local.Volumes, name)
		s.local.Healed[name] = true
		s.local.Bricks = append(s.local.Bricks, gluster.BrickStatus{Volume: name, Host: "127.1.1.1",
			Path: v.Bricks[0].Path, HostUUID: uuid(1), Online: true, Pid: -1, Port: uint32(49152 + i%16000),
			SizeTotal: 270553174016, SizeFree: 257782624256})
	}
	for j := 2; j <= 3; j++ {
		s.peers = append(s.peers, gluster.Peer{UUID: uuid(j), Hostname: fmt.Sprintf("127.1.1.%d", j), Connected: true, State: "Peer in Cluster"})
	}
	return s
}

func (s *memSource) VolumeInfo(context.Context, string) ([]gluster.Volume, error) { return s.vols, nil }
func (s *memSource) VolumeStatusDetail(context.Context, string) ([]gluster.BrickStatus, error) {
	return nil, nil
}
func (s *memSource) LocalState(context.Context) (*gluster.LocalState, error) {
	st := s.local
	st.Bricks = slices.Clone(s.local.Bricks)
	return &st, nil
}
func (s *memSource) PendingHeals(context.Context, string, gluster.HealIndex) (gluster.HealIndex, error) {
	return gluster.HealIndex{}, nil
}
func (s *memSource) HealSummary(context.Context, string) ([]gluster.HealBrick, error) {
	return nil, nil
}
func (s *memSource) Snapshots(context.Context) ([]gluster.Snapshot, error) { return nil, nil }
func (s *memSource) Peers(context.Context) ([]gluster.Peer, error)         { return s.peers, nil }
func (s *memSource) LocalUUID(context.Context) (string, error)             { return s.local.UUID, nil }
func (s *memSource) OpVersion(context.Context) (uint32, error)             { return 100000, nil }
func (s *memSource) Version(context.Context) (string, error)               { return "10.3", nil }

// BenchmarkReadAll is the daemon's own work in a full read of a quiet
// cluster of 5 000 volumes, the source answering from memory: building the
// volumes from what was read and putting them into the model.
func BenchmarkReadAll(b *testing.B) {
	const n = 5000
	ctx := context.Background()
	model := state.NewModel()
	r := New(ctx, newMemSource(n), model, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := r.All(ctx); err != nil {
		b.Fatal(err)
	}
	b.Run(fmt.Sprintf("unchanged/volumes=%d", n), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := r.All(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
