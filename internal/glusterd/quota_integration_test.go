package glusterd_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/gluster"
	"github.com/glusterbus/glusterbus/internal/glusterd"
	"github.com/glusterbus/glusterbus/internal/testbed"
)

// TestQuotaSameAsCLI reads a volume's quota limits from quota.conf and
// quotad, without glusterd, and compares them with `gluster volume quota
// VOL list PATH... --xml` once accounting has caught up with the writes.
func TestQuotaSameAsCLI(t *testing.T) {
	testbed.QuotaLock(t)
	c := testbed.Start(t, 1)
	n1 := c.Nodes[0]
	n1.Gluster(t, "volume", "create", "qv", n1.Addr+":"+c.BrickDir(1, "qv"), "force")
	n1.Gluster(t, "volume", "start", "qv")
	q := &glusterd.Quota{Workdir: n1.Workdir, Timeout: time.Minute}
	defer q.Close()
	ctx := context.Background()

	n1.Gluster(t, "volume", "quota", "qv", "enable")
	if got, err := q.Limits(ctx, "qv", ""); err != nil || len(got) != 0 {
		t.Fatalf("no limits yet: got %v, %v", got, err)
	}
	mnt := c.Mount(t, 1, "qv")
	for _, d := range []string{"a", "b", "gone"} {
		if err := os.Mkdir(filepath.Join(mnt, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	n1.Gluster(t, "volume", "quota", "qv", "limit-usage", "/a", "10MB", "50%")
	n1.Gluster(t, "volume", "quota", "qv", "limit-usage", "/b", "1GB")
	n1.Gluster(t, "volume", "quota", "qv", "limit-usage", "/gone", "1GB")
	if err := os.Remove(filepath.Join(mnt, "gone")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mnt, "a", "f"), make([]byte, 7<<20), 0o644); err != nil {
		t.Fatal(err)
	}

	var got, want []gluster.QuotaLimit
	deadline := time.Now().Add(3 * time.Minute)
	for {
		out := n1.Gluster(t, "volume", "quota", "qv", "list", "/a", "/b", "--xml")
		var err error
		if want, err = gluster.ParseQuotaList([]byte(out)); err != nil {
			t.Fatal(err)
		}
		if got, err = q.Limits(ctx, "qv", ""); err != nil {
			logs, _ := filepath.Glob(filepath.Join(n1.LogDir, "quotad.log"))
			for _, l := range logs {
				b, _ := os.ReadFile(l)
				t.Logf("%s:\n%s", l, b[max(0, len(b)-3000):])
			}
			t.Fatal(err)
		}
		if len(want) == 2 && want[0].SoftExceeded && reflect.DeepEqual(got, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("quota limits\n got %+v\nwant %+v", got, want)
		}
		time.Sleep(time.Second)
	}
	t.Logf("limits: %+v", got)

	// The volume's default soft limit applies where a limit sets none.
	n1.Gluster(t, "volume", "quota", "qv", "default-soft-limit", "10%")
	if got, err := q.Limits(ctx, "qv", "10%"); err != nil || got[1].SoftLimit != 1<<30/10 {
		t.Fatalf("with a default soft limit of 10%%: %+v, %v", got, err)
	}
}
