package glusterd_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/gluster"
	"github.com/glusterbus/glusterbus/internal/glusterd"
	"github.com/glusterbus/glusterbus/internal/testbed"
)

// BenchmarkQuotaRead measures one read of a volume's quota limits on a real
// one-node cluster, a distribute volume of one brick with 1 and with 10
// limits: lock-free (quota.conf and quotad, what the daemon does) and the
// CLI's `volume quota VOL list PATH... --xml` (a glusterd transaction under
// the volume's lock, then quotad):
//
//	go test -run XXX -bench QuotaRead -benchtime 50x ./internal/glusterd/
func BenchmarkQuotaRead(b *testing.B) {
	testbed.Require(b)
	testbed.QuotaLock(b)
	c := testbed.Start(b, 1)
	n1 := c.Nodes[0]
	n1.Gluster(b, "volume", "create", "qv", n1.Addr+":"+c.BrickDir(1, "qv"), "force")
	n1.Gluster(b, "volume", "start", "qv")
	n1.Gluster(b, "volume", "quota", "qv", "enable")
	mnt := c.Mount(b, 1, "qv")
	var paths []string
	for i := range 10 {
		p := fmt.Sprintf("/d%d", i)
		if err := os.Mkdir(filepath.Join(mnt, p), 0o755); err != nil {
			b.Fatal(err)
		}
		paths = append(paths, p)
	}
	q := &glusterd.Quota{Workdir: n1.Workdir, Timeout: time.Minute}
	defer q.Close()
	cli := &gluster.CLI{Command: n1.CLI(), Timeout: time.Minute}
	ctx := context.Background()
	for _, limits := range []int{1, 10} {
		for _, p := range paths[:limits] {
			n1.Gluster(b, "volume", "quota", "qv", "limit-usage", p, "1GB")
		}
		b.Run(fmt.Sprintf("quotad-%d-limits", limits), func(b *testing.B) {
			for range b.N {
				got, err := q.Limits(ctx, "qv", "")
				if err != nil || len(got) != limits {
					b.Fatalf("%d limits, %v", len(got), err)
				}
			}
		})
		args := append([]string{"volume", "quota", "qv", "list"}, paths[:limits]...)
		b.Run(fmt.Sprintf("cli-list-%d-limits", limits), func(b *testing.B) {
			for range b.N {
				out, err := cli.Run(ctx, append(args, "--xml")...)
				if err != nil {
					b.Fatal(err)
				}
				if got, err := gluster.ParseQuotaList(out); err != nil || len(got) != limits {
					b.Fatalf("%d limits, %v", len(got), err)
				}
			}
		})
	}
}
