package gluster_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/gluster"
	"github.com/glusterbus/glusterbus/internal/testbed"
)

// BenchmarkGeoRepReads measures what reading geo-replication costs on a
// real three-node cluster with one started replica 3 volume and no
// session (none can run on loopback): the readdir that decides whether to
// read at all, which is all the daemon does there, and the status command
// itself, whose answer there is an error but whose cost is its round trip
// through every node's glusterd. Parsing is measured on the hand-written
// 10 fixture.
//
//	go test -run XXX -bench GeoRepReads -benchtime 20x ./internal/gluster/
func BenchmarkGeoRepReads(b *testing.B) {
	testbed.Require(b)
	c := testbed.Start(b, 3)
	n1 := c.Nodes[0]
	var bricks []string
	for i, n := range c.Nodes {
		bricks = append(bricks, n.Addr+":"+c.BrickDir(i+1, "g"))
	}
	n1.Gluster(b, append(append([]string{"volume", "create", "g", "replica", "3"}, bricks...), "force")...)
	n1.Gluster(b, "volume", "start", "g")
	cli := &gluster.CLI{Command: n1.CLI(), Timeout: time.Minute}
	ctx := context.Background()
	b.Run("session-dirs", func(b *testing.B) {
		for range b.N {
			if n, err := gluster.GeoRepSessionDirs(n1.Workdir); n != 0 || err != nil {
				b.Fatal(n, err)
			}
		}
	})
	b.Run("volume-info-for-comparison", func(b *testing.B) {
		for range b.N {
			if _, err := cli.VolumeInfo(ctx, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("status-no-session", func(b *testing.B) {
		for range b.N {
			cli.GeoRepStatus(ctx) // no session: an error, the cost is the round trip
		}
	})
	data, err := os.ReadFile("testdata/r10-georep-status.xml")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("parse-2-sessions-4-workers", func(b *testing.B) {
		for range b.N {
			if _, err := gluster.ParseGeoRepStatus(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
