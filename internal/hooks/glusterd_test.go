package hooks

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/glusterbus/glusterbus/internal/testbed"
)

// TestGlusterdRunsHooks installs the scripts into a real glusterd's working
// directory, with a recorder standing in for the glusterbus binary, and
// checks that every volume operation reaches it with its op and volume.
func TestGlusterdRunsHooks(t *testing.T) {
	testbed.Require(t)
	c := testbed.Start(t, 1)
	n := c.Nodes[0]

	dir := filepath.Join(t.TempDir(), "bin dir")
	record := filepath.Join(t.TempDir(), "calls")
	bin := writeRecorder(t, mkdir(t, dir), record)
	if _, err := Install(Options{Workdir: n.Workdir, Binary: bin, Bus: "session"}); err != nil {
		t.Fatal(err)
	}

	const vol = "hook-vol_1"
	brick := n.Addr + ":" + c.BrickDir(1, "b1")
	steps := []struct {
		op   string
		args []string
	}{
		{"create", []string{"volume", "create", vol, brick, "force"}},
		{"start", []string{"volume", "start", vol}},
		{"set", []string{"volume", "set", vol, "user.note", "a b=c"}},
		{"stop", []string{"volume", "stop", vol}},
		{"delete", []string{"volume", "delete", vol}},
	}
	for i, s := range steps {
		n.Gluster(t, s.args...)
		// glusterd runs post hooks one after another but after the CLI
		// returns: wait for each so the order is the operations' order.
		calls := waitCalls(t, record, i+1)
		if len(calls) != i+1 {
			t.Fatalf("after %s: %d calls: %q", s.op, len(calls), calls)
		}
		call := calls[i]
		if len(call) < 6 || !slices.Equal(call[:5], []string{"hook", "--bus", "session", s.op, "--"}) {
			t.Fatalf("%s: binary got %q", s.op, call)
		}
		r, err := ParseArgs(call[3], call[5:])
		if err != nil {
			t.Fatalf("%s: %v", s.op, err)
		}
		if r != (Request{Op: s.op, Volume: vol}) {
			t.Fatalf("%s: %q parsed as %+v", s.op, call, r)
		}
		t.Logf("%s: %q", s.op, call[5:])
	}

	if removed, err := Uninstall(n.Workdir); err != nil || len(removed) != len(Ops) {
		t.Fatalf("Uninstall: %q, %v", removed, err)
	}
}

func mkdir(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
