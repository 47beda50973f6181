package refresh

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/gluster"
	"github.com/glusterbus/glusterbus/internal/state"
	"github.com/glusterbus/glusterbus/internal/testbed"
)

// clusterPatience bounds waits on a real cluster, which may be slow on a
// loaded machine: a condition, never a timing assertion.
const clusterPatience = 5 * time.Minute

// realEnv is a Refresher in the default mode (no volume lock) over node 1
// of a real cluster.
func realEnv(t *testing.T, c *testbed.Cluster, opt Options) (*Refresher, *state.Model) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	model := state.NewModel()
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	cli := &gluster.CLI{Command: c.Nodes[0].CLI(), Timeout: 2 * time.Minute}
	r := New(ctx, cli, model, opt)
	if err := r.All(ctx); err != nil {
		t.Fatal(err)
	}
	return r, model
}

func waitCluster(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(clusterPatience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func writeFiles(t *testing.T, dir string, n int) {
	t.Helper()
	for i := range n {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%04d", i)), []byte("some data\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// A rebalance on a real distribute volume shows as a task that goes from
// in progress to completed, told by get-state alone.
func TestTasksOnRealCluster(t *testing.T) {
	testbed.Require(t)
	c := testbed.Start(t, 2)
	n1 := c.Nodes[0]
	brick := func(node int, name string) string { return c.Nodes[node-1].Addr + ":" + c.BrickDir(node, name) }
	n1.Gluster(t, "volume", "create", "dist", brick(1, "d1"), "force")
	n1.Gluster(t, "volume", "start", "dist")
	writeFiles(t, c.Mount(t, 1, "dist"), 300)
	n1.Gluster(t, "volume", "add-brick", "dist", brick(2, "d2"), brick(1, "d3"), "force")

	r, model := realEnv(t, c, Options{TaskPollInterval: 200 * time.Millisecond})
	tasks := func() []state.Task { v, _ := model.Volume("dist"); return v.Tasks }
	if got := tasks(); len(got) != 0 {
		t.Fatalf("tasks before any rebalance: %+v", got)
	}
	n1.Gluster(t, "volume", "rebalance", "dist", "start")
	r.TriggerVolume("dist") // as the hook or the native event would
	waitCluster(t, "the rebalance to complete", func() bool {
		got := tasks()
		return len(got) == 1 && got[0].Status == "completed"
	})
	got := tasks()[0]
	if got.Type != "Rebalance" || len(got.ID) != 36 || got.Figures["node"] != model.Glusterd().UUID ||
		got.Figures["lookups"] == "0" || got.Figures["runtime"] == "" {
		t.Errorf("task %+v", got)
	}

	// A remove-brick is a task of its own; its commit ends it.
	n1.Gluster(t, "volume", "remove-brick", "dist", brick(1, "d3"), "start")
	r.TriggerVolume("dist")
	waitCluster(t, "the remove-brick to complete", func() bool {
		got := tasks()
		return len(got) == 1 && got[0].Type == "Remove brick" && got[0].Status == "completed"
	})
	n1.Gluster(t, "volume", "remove-brick", "dist", brick(1, "d3"), "commit")
	r.TriggerVolume("dist")
	waitCluster(t, "the task to go after the commit", func() bool { return len(tasks()) == 0 })
}

// Entries written while a brick of a replica volume is down show as
// pending self-heal on the bricks that got them, counted without any
// glusterd lock, and go back to 0 once the brick returns and heal runs.
func TestHealCountsOnRealCluster(t *testing.T) {
	testbed.Require(t)
	c := testbed.Start(t, 1)
	n1 := c.Nodes[0]
	dirs := []string{c.BrickDir(1, "r-a"), c.BrickDir(1, "r-b"), c.BrickDir(1, "r-c")}
	n1.Gluster(t, "volume", "create", "rep", "replica", "3",
		n1.Addr+":"+dirs[0], n1.Addr+":"+dirs[1], n1.Addr+":"+dirs[2], "force")
	n1.Gluster(t, "volume", "start", "rep")
	n1.Gluster(t, "volume", "create", "plain", n1.Addr+":"+c.BrickDir(1, "p"), "force")
	mnt := c.Mount(t, 1, "rep")

	r, model := realEnv(t, c, Options{HealPollInterval: 200 * time.Millisecond})
	vol := func() state.Volume { v, _ := model.Volume("rep"); return v }
	if v := vol(); v.HealPendingEntries != 0 || v.HealInfoTime.IsZero() {
		t.Fatalf("before: pending %d, read at %v", v.HealPendingEntries, v.HealInfoTime)
	}
	if v, _ := model.Volume("plain"); !v.HealInfoTime.IsZero() {
		t.Errorf("a volume that does not self-heal has heal counts read at %v", v.HealInfoTime)
	}
	// Counts read again and found as they were keep their time.
	firstRead := vol().HealInfoTime
	if err := r.All(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v := vol(); !v.HealInfoTime.Equal(firstRead) {
		t.Errorf("unchanged counts read again: read at %v, want %v kept", v.HealInfoTime, firstRead)
	}

	pid := c.BrickPID(t, "rep", 1, dirs[2])
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitCluster(t, "the brick to die", func() bool { return syscall.Kill(pid, 0) != nil })
	if err := os.Mkdir(filepath.Join(mnt, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, filepath.Join(mnt, "d"), 5)
	r.TriggerRuntime("rep") // as BRICK_DISCONNECTED would
	waitCluster(t, "entries pending self-heal", func() bool { return vol().HealPendingEntries > 0 })
	v := vol()
	if !v.HealInfoTime.After(firstRead) {
		t.Errorf("counts found changed read at %v, not after %v", v.HealInfoTime, firstRead)
	}
	byPath := map[string]uint64{}
	for _, b := range v.Bricks {
		byPath[b.Path] = b.HealPendingEntries
	}
	if byPath[dirs[0]] == 0 || byPath[dirs[1]] == 0 || byPath[dirs[2]] != 0 ||
		v.HealPendingEntries != byPath[dirs[0]]+byPath[dirs[1]] {
		t.Errorf("pending: volume %d, bricks %v", v.HealPendingEntries, byPath)
	}
	// The count is the self-heal daemon's, which asks the bricks' index.
	out := n1.Gluster(t, "volume", "heal", "rep", "statistics", "heal-count")
	if want := fmt.Sprintf("Number of entries: %d", byPath[dirs[0]]); strings.Count(out, want) != 2 {
		t.Errorf("daemon: volume %d, bricks %v; gluster (under the volume lock) tells otherwise:\n%s", v.HealPendingEntries, byPath, out)
	}

	n1.Gluster(t, "volume", "start", "rep", "force")
	// The heal command fails until the brick has come back up.
	waitCluster(t, "a heal to launch", func() bool { _, err := n1.RunGluster("volume", "heal", "rep"); return err == nil })
	waitCluster(t, "self-heal to finish", func() bool {
		v := vol()
		return v.HealPendingEntries == 0 && v.Bricks[0].HealPendingEntries == 0 && v.Bricks[1].HealPendingEntries == 0
	})
}

// A file in split-brain (written while each brick of a replica 2 volume was
// down in turn, with quorum and self-heal off) is counted by `heal info
// summary` when asked, as an AFR_SPLIT_BRAIN event asks.
func TestSplitBrainOnRealCluster(t *testing.T) {
	testbed.Require(t)
	c := testbed.Start(t, 1)
	n1 := c.Nodes[0]
	dirs := []string{c.BrickDir(1, "s-a"), c.BrickDir(1, "s-b")}
	n1.Gluster(t, "volume", "create", "sb", "replica", "2", n1.Addr+":"+dirs[0], n1.Addr+":"+dirs[1], "force")
	for _, kv := range [][2]string{{"cluster.quorum-type", "none"}, {"cluster.self-heal-daemon", "off"},
		{"cluster.data-self-heal", "off"}, {"cluster.metadata-self-heal", "off"}, {"cluster.entry-self-heal", "off"}} {
		n1.Gluster(t, "volume", "set", "sb", kv[0], kv[1])
	}
	n1.Gluster(t, "volume", "start", "sb")
	mnt := c.Mount(t, 1, "sb")
	file := filepath.Join(mnt, "f")
	if err := os.WriteFile(file, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, d := range dirs {
		pid := c.BrickPID(t, "sb", 1, d)
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitCluster(t, "the brick to die", func() bool { return syscall.Kill(pid, 0) != nil })
		// The client may not have reconnected to the brick started last.
		waitCluster(t, "a write with one brick down", func() bool {
			return os.WriteFile(file, []byte(fmt.Sprintf("written while brick %d was down", i)), 0o644) == nil
		})
		n1.Gluster(t, "volume", "start", "sb", "force")
		c.BrickPID(t, "sb", 1, d)
	}

	r, model := realEnv(t, c, Options{HealInfoTimeout: time.Minute})
	vol := func() state.Volume { v, _ := model.Volume("sb"); return v }
	if v := vol(); v.SplitBrainEntries != 0 {
		t.Fatalf("split-brain counted before any heal info: %d", v.SplitBrainEntries)
	}
	r.TriggerHealInfo("sb")
	r.TriggerHealInfo("sb") // coalesces with the first
	waitCluster(t, "the split-brain count", func() bool { return vol().SplitBrainEntries > 0 })
	v := vol()
	// The file is in split-brain on both bricks; how many more entries
	// (its parent directory, a gfid link) glfsheal lists with it depends on
	// which writes reached which brick, so the counts are at least one.
	if v.Bricks[0].SplitBrainEntries == 0 || v.Bricks[1].SplitBrainEntries == 0 ||
		v.SplitBrainEntries != v.Bricks[0].SplitBrainEntries+v.Bricks[1].SplitBrainEntries || v.HealInfoTime.IsZero() {
		t.Errorf("split-brain: volume %d, bricks %d %d, read at %v",
			v.SplitBrainEntries, v.Bricks[0].SplitBrainEntries, v.Bricks[1].SplitBrainEntries, v.HealInfoTime)
	}
}
