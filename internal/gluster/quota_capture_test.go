//go:build capture

package gluster_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/testbed"
)

// Regenerate testdata/quota-*.xml from the gluster of this machine (needs
// root, glusterfs-server and /dev/fuse):
//
//	go test -tags capture -run TestCaptureQuota -v ./internal/gluster/
func TestCaptureQuota(t *testing.T) {
	testbed.QuotaLock(t)
	c := testbed.Start(t, 1)
	n1 := c.Nodes[0]
	save := func(name string, args ...string) string {
		t.Helper()
		out, err := n1.RunGluster(args...)
		if err != nil {
			t.Logf("%s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join("testdata", name), []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return out
	}
	n1.Gluster(t, "volume", "create", "qv", n1.Addr+":"+c.BrickDir(1, "qv"), "force")
	n1.Gluster(t, "volume", "start", "qv")
	save("error-quota-list-not-enabled.xml", "volume", "quota", "qv", "list", "--xml")
	n1.Gluster(t, "volume", "quota", "qv", "enable")
	save("quota-list-none.xml", "volume", "quota", "qv", "list", "--xml")
	mnt := c.Mount(t, 1, "qv")
	for _, d := range []string{"a", "b", "c"} {
		if err := os.Mkdir(filepath.Join(mnt, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	n1.Gluster(t, "volume", "quota", "qv", "limit-usage", "/a", "10MB", "50%")
	n1.Gluster(t, "volume", "quota", "qv", "limit-usage", "/b", "1GB")
	n1.Gluster(t, "volume", "quota", "qv", "limit-usage", "/c", "4MB")
	n1.Gluster(t, "volume", "quota", "qv", "soft-timeout", "0")
	n1.Gluster(t, "volume", "quota", "qv", "hard-timeout", "0")
	write := func(p string, mb int) {
		f, err := os.Create(filepath.Join(mnt, p))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		buf := make([]byte, 1<<20)
		for i := 0; i < mb; i++ {
			if _, err := f.Write(buf); err != nil {
				t.Logf("write %s: %v", p, err)
				return
			}
		}
	}
	write("a/f", 7)
	write("c/f", 6)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		// The CLI reads quota.conf from /var/lib/glusterd whatever glusterd's
		// working directory: on the testbed only a list of paths works.
		out := save("quota-list-paths.xml", "volume", "quota", "qv", "list", "/a", "/b", "/c", "--xml")
		if strings.Count(out, "<sl_exceeded>Yes") >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(2 * time.Second)
	}
	save("quota-list-path.xml", "volume", "quota", "qv", "list", "/a", "--xml")
	save("quota-list-missing-path.xml", "volume", "quota", "qv", "list", "/nowhere", "--xml")
	save("error-quota-list-missing.xml", "volume", "quota", "missing", "list", "--xml")
	out, _ := n1.RunGluster("volume", "quota", "qv", "list")
	t.Logf("plain list:\n%s", out)
	n1.Gluster(t, "volume", "quota", "qv", "disable")
	save("error-quota-list-disabled.xml", "volume", "quota", "qv", "list", "--xml")
}
