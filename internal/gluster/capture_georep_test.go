//go:build capture

package gluster_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/glusterbus/glusterbus/internal/testbed"
)

// What geo-replication status prints on a cluster without any session (no
// XML; exit status 2). No session can be made on the loopback cluster: its
// create needs the secondary reachable over ssh and gsyncd's template.
//
//	go test -tags capture -run TestCaptureGeoRep -v ./internal/gluster/
func TestCaptureGeoRep(t *testing.T) {
	c := testbed.Start(t, 1)
	out, err := c.Nodes[0].RunGluster("volume", "geo-replication", "status", "--xml")
	t.Logf("%v\n%s", err, out)
	if err := os.WriteFile(filepath.Join("testdata", "georep-status-none.txt"), []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
}
