package gluster_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/gluster"
	"github.com/glusterbus/glusterbus/internal/testbed"
)

// BenchmarkAdminReads measures the lock-free reads behind Volume.Tasks, the
// heal counts and the snapshots on a real one-node cluster of
// GLUSTERBUS_BENCH_VOLUMES replica 3 volumes (default 1), a third of them
// started (at least one), bricks multiplexed:
//
//	GLUSTERBUS_BENCH_VOLUMES=300 go test -run XXX -bench AdminReads -benchtime 5x ./internal/gluster/
func BenchmarkAdminReads(b *testing.B) {
	testbed.Require(b)
	volumes := 1
	if s := os.Getenv("GLUSTERBUS_BENCH_VOLUMES"); s != "" {
		volumes, _ = strconv.Atoi(s)
	}
	c := testbed.Start(b, 1)
	n1 := c.Nodes[0]
	n1.Gluster(b, "volume", "set", "all", "cluster.brick-multiplex", "on")
	var started []string
	for i := range volumes {
		name := fmt.Sprintf("b%03d", i)
		var bricks []string
		for _, s := range []string{"a", "b", "c"} {
			bricks = append(bricks, n1.Addr+":"+c.BrickDir(1, name+s))
		}
		n1.Gluster(b, append(append([]string{"volume", "create", name, "replica", "3"}, bricks...), "force")...)
		if i%3 == 0 {
			n1.Gluster(b, "volume", "start", name)
			started = append(started, name)
		}
	}
	cli := &gluster.CLI{Command: n1.CLI(), Timeout: 5 * time.Minute}
	ctx := context.Background()
	ls, err := cli.LocalState(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("get-state", func(b *testing.B) {
		for range b.N {
			if _, err := cli.LocalState(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run(fmt.Sprintf("heal-index-%d-bricks", len(ls.Bricks)), func(b *testing.B) {
		for range b.N {
			for _, br := range ls.Bricks {
				if _, err := cli.PendingHeals(ctx, br.Path, gluster.HealIndex{}); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("snapshot-info", func(b *testing.B) {
		for range b.N {
			cli.Snapshots(ctx) // no LVM here: the answer is an error, the cost is the round trip
		}
	})
	b.Run("heal-info-summary-one-volume", func(b *testing.B) {
		for range b.N {
			if _, err := cli.HealSummary(ctx, started[0]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
