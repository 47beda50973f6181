package glusterd_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/gluster"
	"github.com/glusterbus/glusterbus/internal/glusterd"
	"github.com/glusterbus/glusterbus/internal/testbed"
)

// TestSameAsCLI reads every kind of volume, the peers and glusterd's
// identity of a real three-node cluster through the socket and through the
// CLI, and compares the results field by field.
func TestSameAsCLI(t *testing.T) {
	c := testbed.Start(t, 3)
	n1, n3 := c.Nodes[0], c.Nodes[2]
	ctx := context.Background()
	cli := &gluster.CLI{Command: n1.CLI(), Timeout: time.Minute}
	rpc := &glusterd.Client{Socket: n1.Socket, Timeout: time.Minute}
	defer rpc.Close()

	brick := func(node int, name string) string {
		return c.Nodes[node-1].Addr + ":" + c.BrickDir(node, name)
	}
	create := func(args ...string) { n1.Gluster(t, append(append([]string{"volume", "create"}, args...), "force")...) }
	create("dist", brick(1, "dist"), brick(2, "dist"), brick(3, "dist"))
	create("rep", "replica", "3", brick(1, "rep"), brick(2, "rep"), brick(3, "rep"))
	create("drep", "replica", "2", brick(1, "drep-a"), brick(2, "drep-a"), brick(3, "drep-b"), brick(1, "drep-b"))
	create("arb", "replica", "3", "arbiter", "1", brick(1, "arb"), brick(2, "arb"), brick(3, "arb"))
	create("disp", "disperse", "3", "redundancy", "1", brick(1, "disp"), brick(2, "disp"), brick(3, "disp"))
	create("ddisp", "disperse", "3", "redundancy", "1",
		brick(1, "dd-a"), brick(2, "dd-a"), brick(3, "dd-a"), brick(1, "dd-b"), brick(2, "dd-b"), brick(3, "dd-b"))
	create("stopped", brick(2, "stopped"))
	create("tuned", "replica", "3", brick(1, "tuned"), brick(2, "tuned"), brick(3, "tuned"))
	create("created", brick(3, "created"))
	for _, v := range []string{"dist", "rep", "arb", "disp", "stopped", "tuned"} {
		n1.Gluster(t, "volume", "start", v)
	}
	n1.Gluster(t, "volume", "stop", "stopped")
	for _, kv := range [][2]string{
		{"user.note", "hello world"},
		{"user.api-token", "must not show"},
		{"performance.cache-size", "64MB"},
		{"cluster.self-heal-daemon", "off"},
		{"auth.allow", "127.*"},
		{"nfs.disable", "on"},
	} {
		n1.Gluster(t, "volume", "set", "tuned", kv[0], kv[1])
	}

	// A global option: glusterd lists it among every volume's options.
	n1.Gluster(t, "volume", "set", "all", "cluster.localtime-logging", "enable")

	cliVols, err := cli.VolumeInfo(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	rpcVols, err := rpc.VolumeInfo(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(cliVols) != 9 {
		t.Errorf("the CLI sees %d volumes, want 9", len(cliVols))
	}
	compareVolumes(t, "all", cliVols, rpcVols)
	// The list and the pipelined reads by name against the walk the CLI
	// makes, over the socket too; and the same again from the answers
	// remembered.
	walked, err := glusterd.WalkVolumes(rpc, ctx)
	if err != nil {
		t.Fatal(err)
	}
	compareVolumes(t, "all, walked", cliVols, walked)
	again, err := rpc.VolumeInfo(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	compareVolumes(t, "all, read again", cliVols, again)
	names, err := rpc.VolumeNames(ctx)
	if err != nil || len(names) != len(cliVols) {
		t.Errorf("VolumeNames = %q, %v", names, err)
	}
	for _, v := range cliVols {
		one, err := rpc.VolumeInfo(ctx, v.Name)
		if err != nil {
			t.Errorf("VolumeInfo(%s): %v", v.Name, err)
			continue
		}
		compareVolumes(t, v.Name, []gluster.Volume{v}, one)
	}
	tuned := byName(rpcVols)["tuned"]
	t.Logf("tuned through the socket: %+v", tuned)
	t.Logf("ddisp through the socket: %+v", byName(rpcVols)["ddisp"])
	if tuned.Options["user.note"] != "hello world" || tuned.Options["performance.cache-size"] != "64MB" ||
		tuned.Options["cluster.localtime-logging"] != "enable" {
		t.Errorf("tuned options = %v", tuned.Options)
	}
	for k := range tuned.Options {
		if gluster.IsSecretOption(k) {
			t.Errorf("secret option %q read", k)
		}
	}
	if !byName(rpcVols)["arb"].Bricks[2].IsArbiter {
		t.Errorf("arb = %+v", byName(rpcVols)["arb"])
	}

	// A volume neither knows is the same error both ways.
	_, cliErr := cli.VolumeInfo(ctx, "missing")
	_, rpcErr := rpc.VolumeInfo(ctx, "missing")
	if !errors.Is(cliErr, gluster.ErrNoVolume) || !errors.Is(rpcErr, gluster.ErrNoVolume) {
		t.Errorf("missing volume: CLI %v, socket %v; want ErrNoVolume both", cliErr, rpcErr)
	}

	compareLocalStates(t, "started, stopped and created volumes", cli, rpc)

	same(t, "LocalUUID", cli.LocalUUID, rpc.LocalUUID)
	same(t, "OpVersion", cli.OpVersion, rpc.OpVersion)
	same(t, "Version", cli.Version, rpc.Release)
	same(t, "Workdir", cli.Workdir, rpc.Workdir)
	if wd, _ := rpc.Workdir(ctx); wd != n1.Workdir {
		t.Errorf("Workdir = %q, want %q", wd, n1.Workdir)
	}
	comparePeers(t, cli, rpc, func(p []gluster.Peer) bool { return len(p) == 2 && p[0].Connected && p[1].Connected })

	// A volume deleted and one created meanwhile.
	n1.Gluster(t, "volume", "delete", "created")
	create("later", brick(2, "later"))
	cliVols, err = cli.VolumeInfo(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	rpcVols, err = rpc.VolumeInfo(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	compareVolumes(t, "all after delete and create", cliVols, rpcVols)
	if walked, err = glusterd.WalkVolumes(rpc, ctx); err != nil {
		t.Fatal(err)
	}
	compareVolumes(t, "all after delete and create, walked", cliVols, walked)

	// A brick that died: glusterd notices, and both reads say so.
	if err := syscall.Kill(c.BrickPID(t, "rep", 1, c.BrickDir(1, "rep")), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Minute); ; {
		st, err := rpc.LocalState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if b, ok := localBrick(st, "rep"); ok && !b.Online {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a killed brick never seen offline: %+v", st)
		}
		time.Sleep(200 * time.Millisecond)
	}
	compareLocalStates(t, "a brick killed", cli, rpc)

	// A peer whose glusterd is down, seen both ways.
	kept := &glusterd.Client{Socket: n3.Socket, Timeout: time.Minute}
	defer kept.Close()
	if _, err := kept.Peers(ctx); err != nil {
		t.Fatal(err)
	}
	n3.StopGlusterd(t)
	comparePeers(t, cli, rpc, func(peers []gluster.Peer) bool {
		for _, p := range peers {
			if p.Hostname == n3.Addr {
				return !p.Connected
			}
		}
		return false
	})
	// The socket of a stopped glusterd is an error, not a hang.
	down := &glusterd.Client{Socket: n3.Socket, Timeout: time.Minute}
	if _, err := down.Peers(ctx); err == nil {
		t.Error("Peers on a stopped glusterd: no error")
	}
	n3.StartGlusterd(t)
	// The connection kept from before the restart is replaced unseen.
	if _, err := kept.Peers(ctx); err != nil {
		t.Errorf("Peers after glusterd restarted: %v", err)
	}
	comparePeers(t, cli, rpc, func(p []gluster.Peer) bool { return len(p) == 2 && p[0].Connected && p[1].Connected })
}

// TestSourceReadsWithoutCLI runs the refresher's reads through Source and
// counts the gluster processes they start.
func TestSourceReadsWithoutCLI(t *testing.T) {
	c := testbed.Start(t, 2)
	n1 := c.Nodes[0]
	ctx := context.Background()
	n1.Gluster(t, "volume", "create", "one", n1.Addr+":"+c.BrickDir(1, "one"), "force")
	n1.Gluster(t, "volume", "start", "one")

	// A wrapper that counts its runs, then runs the real CLI.
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	wrapper := filepath.Join(dir, "gluster")
	script := fmt.Sprintf("#!/bin/sh\necho \"$*\" >> %s\nexec %s \"$@\"\n", runs, strings.Join(n1.CLI(), " "))
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cli := &gluster.CLI{Command: []string{wrapper}, Timeout: time.Minute}
	countRuns := func() int {
		data, _ := os.ReadFile(runs)
		return strings.Count(string(data), "\n")
	}

	src := &glusterd.Source{RPC: &glusterd.Client{Socket: n1.Socket, Timeout: time.Minute}, CLI: cli}
	defer src.RPC.Close()
	read := func(src *glusterd.Source) (vols []gluster.Volume, peers []gluster.Peer, uuid string, ov uint32, wd string, ls *gluster.LocalState) {
		t.Helper()
		var err error
		if vols, err = src.VolumeInfo(ctx, ""); err != nil {
			t.Fatal(err)
		}
		if _, err = src.VolumeInfo(ctx, "one"); err != nil {
			t.Fatal(err)
		}
		if peers, err = src.Peers(ctx); err != nil {
			t.Fatal(err)
		}
		if uuid, err = src.LocalUUID(ctx); err != nil {
			t.Fatal(err)
		}
		if ov, err = src.OpVersion(ctx); err != nil {
			t.Fatal(err)
		}
		if wd, err = src.Workdir(ctx); err != nil {
			t.Fatal(err)
		}
		if ls, err = src.LocalState(ctx); err != nil {
			t.Fatal(err)
		}
		for i := range ls.Bricks {
			ls.Bricks[i].SizeFree, ls.Bricks[i].InodesFree = 0, 0 // others write beside the bricks
		}
		return
	}
	v1, p1, u1, o1, w1, l1 := read(src)
	if n := countRuns(); n != 0 {
		data, _ := os.ReadFile(runs)
		t.Errorf("the reads ran the CLI %d times:\n%s", n, data)
	}
	if _, err := src.VolumeInfo(ctx, "missing"); !errors.Is(err, gluster.ErrNoVolume) {
		t.Errorf("VolumeInfo(missing) = %v, want ErrNoVolume", err)
	}
	if n := countRuns(); n != 0 {
		t.Errorf("a missing volume ran the CLI %d times", n)
	}

	// No socket: the same answers through the CLI.
	gone := &glusterd.Source{RPC: &glusterd.Client{Socket: filepath.Join(dir, "no.sock")}, CLI: cli}
	v2, p2, u2, o2, w2, l2 := read(gone)
	if countRuns() == 0 {
		t.Error("without a socket the CLI was not run")
	}
	compareVolumes(t, "fallback", v1, v2)
	if !reflect.DeepEqual(p1, p2) || u1 != u2 || o1 != o2 || w1 != w2 {
		t.Errorf("fallback differs: %+v %s %d %s, socket %+v %s %d %s", p2, u2, o2, w2, p1, u1, o1, w1)
	}
	if !reflect.DeepEqual(l1, l2) || len(l1.Bricks) != 1 {
		t.Errorf("get-state: fallback %+v, socket %+v", l2, l1)
	}
}

func byName(vols []gluster.Volume) map[string]gluster.Volume {
	m := map[string]gluster.Volume{}
	for _, v := range vols {
		m[v.Name] = v
	}
	return m
}

// compareVolumes reports every field in which the two reads differ.
func compareVolumes(t *testing.T, what string, cli, rpc []gluster.Volume) {
	t.Helper()
	if len(cli) != len(rpc) {
		t.Errorf("%s: CLI %d volumes, socket %d", what, len(cli), len(rpc))
	}
	for i := range min(len(cli), len(rpc)) {
		if cli[i].Name != rpc[i].Name {
			t.Errorf("%s: volume %d is %q by the CLI, %q by the socket", what, i, cli[i].Name, rpc[i].Name)
			continue
		}
		diffFields(t, what+": "+cli[i].Name, reflect.ValueOf(cli[i]), reflect.ValueOf(rpc[i]))
	}
}

func diffFields(t *testing.T, what string, a, b reflect.Value) {
	t.Helper()
	for i := range a.NumField() {
		f := a.Type().Field(i).Name
		x, y := a.Field(i).Interface(), b.Field(i).Interface()
		if !reflect.DeepEqual(x, y) {
			t.Errorf("%s: %s: CLI %+v, socket %+v", what, f, x, y)
		}
	}
}

// comparePeers waits until the CLI's peers satisfy cond, then compares
// them with the socket's.
func comparePeers(t *testing.T, cli *gluster.CLI, rpc *glusterd.Client, cond func([]gluster.Peer) bool) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		a, errA := cli.Peers(ctx)
		b, errB := rpc.Peers(ctx)
		if errA != nil || errB != nil {
			t.Fatalf("Peers: CLI %v, socket %v", errA, errB)
		}
		if cond(a) && reflect.DeepEqual(a, b) {
			return
		}
		if time.Now().After(deadline) {
			if len(a) != len(b) {
				t.Fatalf("peers: CLI %+v, socket %+v", a, b)
			}
			for i := range a {
				diffFields(t, "peer "+a[i].UUID, reflect.ValueOf(a[i]), reflect.ValueOf(b[i]))
			}
			t.Fatalf("peers never settled: CLI %+v, socket %+v", a, b)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// compareLocalStates reads get-state both ways and compares them, free
// space and inodes apart: other writers on the bricks' file system change
// them between the two reads.
func compareLocalStates(t *testing.T, what string, cli *gluster.CLI, rpc *glusterd.Client) {
	t.Helper()
	ctx := context.Background()
	a, errA := cli.LocalState(ctx)
	b, errB := rpc.LocalState(ctx)
	if errA != nil || errB != nil {
		t.Fatalf("%s: LocalState: CLI %v, socket %v", what, errA, errB)
	}
	if len(a.Bricks) == 0 || a.UUID == "" || a.OpVersion == 0 {
		t.Errorf("%s: the CLI's get-state is empty: %+v", what, a)
	}
	for _, st := range []*gluster.LocalState{a, b} {
		for i := range st.Bricks {
			br := &st.Bricks[i]
			if br.SizeTotal == 0 || br.InodesTotal == 0 {
				t.Errorf("%s: brick %s:%s has no size or inodes", what, br.Volume, br.Path)
			}
			br.SizeFree, br.InodesFree = 0, 0
		}
	}
	if a.UUID != b.UUID || a.OpVersion != b.OpVersion || len(a.Bricks) != len(b.Bricks) {
		t.Errorf("%s: CLI %+v, socket %+v", what, a, b)
		return
	}
	for i := range a.Bricks {
		diffFields(t, what+": brick "+a.Bricks[i].Volume+":"+a.Bricks[i].Path, reflect.ValueOf(a.Bricks[i]), reflect.ValueOf(b.Bricks[i]))
	}
}

func localBrick(st *gluster.LocalState, volume string) (gluster.BrickStatus, bool) {
	for _, b := range st.Bricks {
		if b.Volume == volume {
			return b, true
		}
	}
	return gluster.BrickStatus{}, false
}

func same[T comparable](t *testing.T, what string, cli, rpc func(context.Context) (T, error)) {
	t.Helper()
	a, errA := cli(context.Background())
	b, errB := rpc(context.Background())
	if errA != nil || errB != nil || a != b {
		t.Errorf("%s: CLI %v (%v), socket %v (%v)", what, a, errA, b, errB)
	}
}
