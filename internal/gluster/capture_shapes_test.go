//go:build capture

// Capture further shapes from the gluster of this machine, on a cluster of
// one node, without touching the files TestCapture writes:
//
//	go test -tags capture -run TestCaptureShapes -v ./internal/gluster/
package gluster_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/glusterbus/glusterbus/internal/testbed"
)

func TestCaptureShapes(t *testing.T) {
	c := testbed.Start(t, 1)
	n1 := c.Nodes[0]
	save := func(name, out string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join("testdata", name), []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(name string, args ...string) {
		t.Helper()
		out, err := n1.RunGluster(args...)
		if err != nil {
			t.Logf("%s: %v", name, err)
		}
		save(name, out)
	}

	run("peer-status-none.xml", "peer", "status", "--xml")
	run("error-volume-get-missing.xml", "volume", "get", "missing", "cluster.op-version", "--xml")
	run("error-volume-get-all-unknown-option.xml", "volume", "get", "all", "no.such-option", "--xml")
}
