package daemon

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/exporter"
	"github.com/glusterbus/glusterbus/internal/gluster"
	"github.com/glusterbus/glusterbus/internal/refresh"
	"github.com/glusterbus/glusterbus/internal/state"
	"github.com/glusterbus/glusterbus/internal/testbed"
)

// managerOn returns the management methods running commands on run and
// reading the cluster through read.
func managerOn(t *testing.T, run, read *testbed.Node, timeout time.Duration) *manager {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	model := state.NewModel(exporter.New(ctx, log))
	readCLI := &gluster.CLI{Command: read.CLI(), Timeout: timeout}
	m := &manager{
		cli: &gluster.CLI{Command: run.CLI(), Timeout: timeout},
		ref: refresh.New(ctx, readCLI, model, refresh.Options{Logger: log}),
	}
	m.register(exporter.New(ctx, log))
	return m
}

// A VolumeCreate whose re-read does not find the volume fails rather than
// answer a path with nothing at it. Here the re-read asks another cluster.
func TestVolumeCreateNotListed(t *testing.T) {
	testbed.Require(t)
	a, b := testbed.Start(t, 1), testbed.Start(t, 1)
	m := managerOn(t, a.Nodes[0], b.Nodes[0], 20*time.Second)
	call := &exporter.Call{Ctx: context.Background(), Args: []any{"elsewhere",
		[]string{a.Nodes[0].Addr + ":" + a.BrickDir(1, "elsewhere")}, options{"force": dbus.MakeVariant(true)}}}
	out, err := m.volumeCreate(context.Background(), call, options{"force": dbus.MakeVariant(true)})
	var e *exporter.Error
	if !errors.As(err, &e) || e.Name != exporter.ErrorFailed || !strings.Contains(e.Msg, "elsewhere") {
		t.Fatalf("VolumeCreate of a volume the re-read does not find = %v, %v; want %s", out, err, exporter.ErrorFailed)
	}
}

// adminProcs counts gluster CLI processes running `volume set` on a node.
func adminProcs(n *testbed.Node) int {
	out, _ := exec.Command("pgrep", "-f", "--", "--glusterd-sock="+n.Socket+" .*volume set").Output()
	return len(strings.Fields(string(out)))
}

// Against a hung glusterd, admin commands do not pile up CLI processes.
func TestAdminCommandsBounded(t *testing.T) {
	testbed.Require(t)
	c := testbed.Start(t, 1)
	n := c.Nodes[0]
	n.Gluster(t, "volume", "create", "b", n.Addr+":"+c.BrickDir(1, "b"), "force")
	m := managerOn(t, n, n, 2*time.Second)
	pid := n.GlusterdPID(t)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(pid, syscall.SIGCONT)

	const calls = 3 * manageConcurrency
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for i := range calls {
		wg.Go(func() {
			errs <- m.command(ctx, "b", "volume", "set", "b", "performance.readdir-ahead", []string{"on", "off"}[i%2])
		})
	}
	most := 0
	for range 40 {
		most = max(most, adminProcs(n))
		time.Sleep(50 * time.Millisecond)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("admin command against a hung glusterd: %v", err)
		}
	}
	if most == 0 || most > manageConcurrency {
		t.Fatalf("%d admin CLI processes at once; want 1 to %d", most, manageConcurrency)
	}
}
