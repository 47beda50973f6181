package gluster_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/gluster"
	"github.com/glusterbus/glusterbus/internal/testbed"
)

// TestIntegration runs the CLI type against a real three-node cluster.
func TestIntegration(t *testing.T) {
	testbed.Require(t)
	c := testbed.Start(t, 3)
	n1, n3 := c.Nodes[0], c.Nodes[2]
	cli := &gluster.CLI{Command: n1.CLI(), Timeout: time.Minute}
	ctx := context.Background()

	brick := func(node int, name string) string {
		return c.Nodes[node-1].Addr + ":" + c.BrickDir(node, name)
	}
	n1.Gluster(t, "volume", "create", "arb", "replica", "3", "arbiter", "1",
		brick(1, "arb"), brick(2, "arb"), brick(3, "arb"), "force")
	n1.Gluster(t, "volume", "create", "dd", "disperse", "3", "redundancy", "1",
		brick(1, "dd-a"), brick(2, "dd-a"), brick(3, "dd-a"),
		brick(1, "dd-b"), brick(2, "dd-b"), brick(3, "dd-b"), "force")
	n1.Gluster(t, "volume", "create", "idle", brick(1, "idle"), "force")
	n1.Gluster(t, "volume", "start", "arb")
	n1.Gluster(t, "volume", "start", "dd")
	n1.Gluster(t, "volume", "set", "arb", "user.note", "hello world")

	self, err := cli.LocalUUID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(self) != 36 {
		t.Errorf("LocalUUID = %q", self)
	}
	if v, err := cli.Version(ctx); err != nil || !strings.Contains(v, ".") {
		t.Errorf("Version = %q, %v", v, err)
	}
	if ov, err := cli.OpVersion(ctx); err != nil || ov < 10000 {
		t.Errorf("OpVersion = %d, %v", ov, err)
	}
	if wd, err := cli.Workdir(ctx); err != nil || wd != n1.Workdir {
		t.Errorf("Workdir = %q, %v; want %q", wd, err, n1.Workdir)
	}

	peers, err := cli.Peers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(peers) != 2 {
		t.Fatalf("Peers = %+v", peers)
	}
	for _, p := range peers {
		if !p.Connected || p.State != "Peer in Cluster" || p.UUID == self {
			t.Errorf("peer %+v", p)
		}
	}

	vols, err := cli.VolumeInfo(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]gluster.Volume{}
	for _, v := range vols {
		byName[v.Name] = v
	}
	arb := byName["arb"]
	if arb.Type != "Replicate" || arb.Status != "Started" || arb.ReplicaCount != 3 || arb.ArbiterCount != 1 ||
		arb.DistCount != 1 || len(arb.Bricks) != 3 || !arb.Bricks[2].IsArbiter || arb.Bricks[0].IsArbiter ||
		arb.Options["user.note"] != "hello world" || arb.Transport != "tcp" {
		t.Errorf("arb = %+v", arb)
	}
	if arb.Bricks[0].HostUUID != self || arb.Bricks[0].Host != n1.Addr {
		t.Errorf("arb brick 1 = %+v, want host %s uuid %s", arb.Bricks[0], n1.Addr, self)
	}
	if dd := byName["dd"]; dd.Type != "Distributed-Disperse" || dd.DistCount != 2 || dd.DisperseCount != 3 || dd.RedundancyCount != 1 {
		t.Errorf("dd = %+v", dd)
	}
	if idle := byName["idle"]; idle.Status != "Created" || idle.Type != "Distribute" || idle.DistCount != 1 {
		t.Errorf("idle = %+v", idle)
	}
	one, err := cli.VolumeInfo(ctx, "dd")
	if err != nil || len(one) != 1 || one[0].Name != "dd" {
		t.Errorf("VolumeInfo(dd) = %+v, %v", one, err)
	}
	_, err = cli.VolumeInfo(ctx, "missing")
	var ce *gluster.CLIError
	if !errors.As(err, &ce) || ce.OpRet != -1 || !strings.Contains(ce.Message, "does not exist") {
		t.Errorf("VolumeInfo(missing) error = %#v", err)
	}

	st, err := cli.VolumeStatusDetail(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 9 {
		t.Errorf("VolumeStatusDetail(all) has %d bricks, want 9: %+v", len(st), st)
	}
	for _, b := range st {
		if !b.Online || b.Pid <= 0 || b.Port == 0 || b.SizeTotal == 0 || b.InodesTotal == 0 || b.FsName == "" {
			t.Errorf("brick status %+v", b)
		}
	}
	if st, err := cli.VolumeStatusDetail(ctx, "idle"); err != nil || len(st) != 0 {
		t.Errorf("VolumeStatusDetail(idle) = %+v, %v; want none", st, err)
	}
	if _, err := cli.VolumeStatusDetail(ctx, "missing"); !errors.As(err, &ce) {
		t.Errorf("VolumeStatusDetail(missing) error = %v", err)
	}

	// A killed brick is offline.
	pid := c.BrickPID(t, "arb", 2, c.BrickDir(2, "arb"))
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "brick offline", func() bool {
		st, err := cli.VolumeStatusDetail(ctx, "arb")
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range st {
			if b.Host == c.Nodes[1].Addr {
				return !b.Online && b.Pid == -1 && b.Port == 0
			}
		}
		return false
	})

	// A stopped glusterd: its peer is disconnected, its bricks missing, and
	// the CLI talking to it fails.
	n3.StopGlusterd(t)
	waitFor(t, "node 3 disconnected", func() bool {
		peers, err := cli.Peers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range peers {
			if p.Hostname == n3.Addr {
				return !p.Connected
			}
		}
		return false
	})
	st, err = cli.VolumeStatusDetail(ctx, "dd")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range st {
		if b.Host == n3.Addr {
			t.Errorf("brick of a disconnected peer listed: %+v", b)
		}
	}
	if len(st) != 4 {
		t.Errorf("dd with node 3 down: %d bricks, want 4", len(st))
	}
	down := &gluster.CLI{Command: n3.CLI(), Timeout: time.Minute}
	if _, err := down.Peers(ctx); !errors.As(err, &ce) || ce.ExitCode == 0 {
		t.Errorf("Peers on a stopped glusterd: %v", err)
	} else {
		t.Logf("Peers on a stopped glusterd: %v", err)
	}
	n3.StartGlusterd(t)
	if peers, err := cli.Peers(ctx); err != nil || len(peers) != 2 || !peers[0].Connected || !peers[1].Connected {
		t.Errorf("after restart: %+v, %v", peers, err)
	}
}

// TestTimeoutKillsProcessGroup runs a command that hangs (and starts a
// child that hangs too) and checks that both are gone after the timeout.
func TestTimeoutKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "hang")
	pidFile := filepath.Join(dir, "child.pid")
	body := "#!/bin/sh\nsleep 300 &\necho $! > " + pidFile + ".new\nmv " + pidFile + ".new " + pidFile + "\nwait\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	// A CLI that did not keep its timeout would wait for the child's five
	// minutes. On a loaded machine the script may not have started its
	// child within the timeout: then again with a longer one.
	cli := &gluster.CLI{Command: []string{script}, Timeout: 500 * time.Millisecond}
	var data []byte
	for {
		_, err := cli.VolumeInfo(context.Background(), "")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error = %v, want DeadlineExceeded", err)
		}
		if data, err = os.ReadFile(pidFile); err == nil {
			break
		}
		if cli.Timeout > time.Minute {
			t.Fatalf("the script did not start its child within %v: %v", cli.Timeout, err)
		}
		cli.Timeout *= 2
	}
	child, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || child <= 0 {
		t.Fatalf("no child pid in %s: %q", pidFile, data)
	}
	waitFor(t, "child gone", func() bool {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child))
		return err != nil || strings.Contains(string(stat), ") Z ")
	})

	// Cancelling the context kills it too.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	cli.Timeout = time.Minute
	if _, err := cli.Peers(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want Canceled", err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
