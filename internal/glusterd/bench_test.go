package glusterd_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/gluster"
	"github.com/glusterbus/glusterbus/internal/glusterd"
	"github.com/glusterbus/glusterbus/internal/testbed"
)

// BenchmarkVolumeRead reads the same volume of a real two-node cluster (a
// replica 2 volume, started, one option set) over glusterd's socket and
// through the CLI, in the same run. Besides the wall time per read it
// reports the CPU this process used per read (us) and the CPU of the gluster
// processes it started.
func BenchmarkVolumeRead(b *testing.B) {
	c := testbed.Start(b, 2)
	n1 := c.Nodes[0]
	n1.Gluster(b, "volume", "create", "bench", "replica", "2",
		n1.Addr+":"+c.BrickDir(1, "bench"), c.Nodes[1].Addr+":"+c.BrickDir(2, "bench"), "force")
	n1.Gluster(b, "volume", "start", "bench")
	n1.Gluster(b, "volume", "set", "bench", "user.note", "benchmark")
	ctx := context.Background()
	rpc := &glusterd.Client{Socket: n1.Socket, Timeout: time.Minute}
	defer rpc.Close()
	cli := &gluster.CLI{Command: n1.CLI(), Timeout: time.Minute}

	for _, way := range []struct {
		name string
		read func() ([]gluster.Volume, error)
	}{
		{"socket/one-connection", func() ([]gluster.Volume, error) { return rpc.VolumeInfo(ctx, "bench") }},
		{"socket/new-connection", func() ([]gluster.Volume, error) {
			defer rpc.Close()
			return rpc.VolumeInfo(ctx, "bench")
		}},
		{"cli", func() ([]gluster.Volume, error) { return cli.VolumeInfo(ctx, "bench") }},
	} {
		b.Run(way.name, func(b *testing.B) {
			b.ReportAllocs()
			self0, child0 := cpu(syscall.RUSAGE_SELF), cpu(syscall.RUSAGE_CHILDREN)
			for b.Loop() {
				vols, err := way.read()
				if err != nil || len(vols) != 1 || len(vols[0].Bricks) != 2 {
					b.Fatalf("%+v, %v", vols, err)
				}
			}
			n := float64(b.N)
			b.ReportMetric(float64(cpu(syscall.RUSAGE_SELF)-self0)/n/1e3, "self-cpu-us/op")
			b.ReportMetric(float64(cpu(syscall.RUSAGE_CHILDREN)-child0)/n/1e3, "child-cpu-us/op")
		})
	}
}

// BenchmarkLocalStateRead reads this node's state (get-state glusterd
// detail, written by glusterd to a file, read and removed) of a real
// two-node cluster with a started replica 2 volume, over glusterd's socket
// and through the CLI, in the same run.
func BenchmarkLocalStateRead(b *testing.B) {
	c := testbed.Start(b, 2)
	n1 := c.Nodes[0]
	n1.Gluster(b, "volume", "create", "bench", "replica", "2",
		n1.Addr+":"+c.BrickDir(1, "bench"), c.Nodes[1].Addr+":"+c.BrickDir(2, "bench"), "force")
	n1.Gluster(b, "volume", "start", "bench")
	ctx := context.Background()
	rpc := &glusterd.Client{Socket: n1.Socket, Timeout: time.Minute}
	defer rpc.Close()
	cli := &gluster.CLI{Command: n1.CLI(), Timeout: time.Minute}

	for _, way := range []struct {
		name string
		read func(context.Context) (*gluster.LocalState, error)
	}{
		{"socket", rpc.LocalState},
		{"cli", cli.LocalState},
	} {
		b.Run(way.name, func(b *testing.B) {
			b.ReportAllocs()
			self0, child0 := cpu(syscall.RUSAGE_SELF), cpu(syscall.RUSAGE_CHILDREN)
			for b.Loop() {
				st, err := way.read(ctx)
				if err != nil || len(st.Bricks) != 1 {
					b.Fatalf("%+v, %v", st, err)
				}
			}
			n := float64(b.N)
			b.ReportMetric(float64(cpu(syscall.RUSAGE_SELF)-self0)/n/1e3, "self-cpu-us/op")
			b.ReportMetric(float64(cpu(syscall.RUSAGE_CHILDREN)-child0)/n/1e3, "child-cpu-us/op")
		})
	}
}

// BenchmarkAllVolumesRead reads all 30 volumes (3 bricks each) of a real
// two-node cluster three ways: over the socket as the daemon does (the list
// and one call per volume, pipelined on one connection), over the socket
// walking the volumes one call after the other (as the CLI does, and as
// the daemon did before), and through the CLI.
func BenchmarkAllVolumesRead(b *testing.B) {
	const volumes = 30
	c := testbed.Start(b, 2)
	n1, n2 := c.Nodes[0], c.Nodes[1]
	for i := range volumes {
		name := fmt.Sprintf("v%02d", i)
		n1.Gluster(b, "volume", "create", name, n1.Addr+":"+c.BrickDir(1, name+"a"),
			n2.Addr+":"+c.BrickDir(2, name+"a"), n1.Addr+":"+c.BrickDir(1, name+"b"), "force")
	}
	ctx := context.Background()
	rpc := &glusterd.Client{Socket: n1.Socket, Timeout: time.Minute}
	defer rpc.Close()
	cli := &gluster.CLI{Command: n1.CLI(), Timeout: time.Minute}
	for _, way := range []struct {
		name string
		read func() ([]gluster.Volume, error)
	}{
		{"socket", func() ([]gluster.Volume, error) { return rpc.VolumeInfo(ctx, "") }},
		{"socket-walk", func() ([]gluster.Volume, error) { return glusterd.WalkVolumes(rpc, ctx) }},
		{"cli", func() ([]gluster.Volume, error) { return cli.VolumeInfo(ctx, "") }},
	} {
		b.Run(fmt.Sprintf("%s/volumes=%d", way.name, volumes), func(b *testing.B) {
			b.ReportAllocs()
			self0, child0 := cpu(syscall.RUSAGE_SELF), cpu(syscall.RUSAGE_CHILDREN)
			for b.Loop() {
				vols, err := way.read()
				if err != nil || len(vols) != volumes {
					b.Fatalf("%d volumes, %v", len(vols), err)
				}
			}
			n := float64(b.N)
			b.ReportMetric(float64(cpu(syscall.RUSAGE_SELF)-self0)/n/1e3, "self-cpu-us/op")
			b.ReportMetric(float64(cpu(syscall.RUSAGE_CHILDREN)-child0)/n/1e3, "child-cpu-us/op")
		})
	}
}

// cpu is the user and system time of who (RUSAGE_SELF or
// RUSAGE_CHILDREN), in nanoseconds.
func cpu(who int) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
