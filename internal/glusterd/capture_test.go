//go:build capture

// Regenerate the files in testdata/ from the glusterd of this machine, on a
// loopback cluster of three nodes (needs root and glusterfs-server):
//
//	go test -tags capture -run TestCapture -v ./internal/glusterd/
//
// NAME.rec is glusterd's reply record to one call, as read off the socket;
// NAME.xml is the CLI's --xml output for the same question, asked right
// after.
package glusterd

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/testbed"
)

// teeConn keeps a copy of what is read.
type teeConn struct {
	net.Conn
	got *bytes.Buffer
}

func (c teeConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.got.Write(p[:n])
	return n, err
}

func TestCapture(t *testing.T) {
	c := testbed.Start(t, 3)
	n1, n3 := c.Nodes[0], c.Nodes[2]
	ctx := context.Background()
	var got bytes.Buffer
	rpc := &Client{Socket: n1.Socket, Timeout: time.Minute, dial: func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "unix", n1.Socket)
		if err != nil {
			return nil, err
		}
		return teeConn{conn, &got}, nil
	}}
	defer rpc.Close()
	write := func(name string, data []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join("testdata", name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// save makes a call and writes its reply record, and the CLI's answer
	// to args when there are any.
	save := func(name string, call func() error, args ...string) {
		t.Helper()
		got.Reset()
		if err := call(); err != nil {
			t.Logf("%s: %v", name, err)
		}
		write(name+".rec", bytes.Clone(got.Bytes()))
		if len(args) > 0 {
			out, err := n1.RunGluster(append(args, "--xml")...)
			if err != nil {
				t.Logf("%s: %v", name, err)
			}
			write(name+".xml", []byte(out))
		}
	}
	brick := func(node int, name string) string {
		return c.Nodes[node-1].Addr + ":" + c.BrickDir(node, name)
	}
	create := func(args ...string) { n1.Gluster(t, append(append([]string{"volume", "create"}, args...), "force")...) }
	create("dist", brick(1, "dist"), brick(2, "dist"))
	create("drep", "replica", "2", brick(1, "drep-a"), brick(2, "drep-a"), brick(3, "drep-b"), brick(1, "drep-b"))
	create("arb", "replica", "3", "arbiter", "1", brick(1, "arb"), brick(2, "arb"), brick(3, "arb"))
	create("ddisp", "disperse", "3", "redundancy", "1",
		brick(1, "dd-a"), brick(2, "dd-a"), brick(3, "dd-a"), brick(1, "dd-b"), brick(2, "dd-b"), brick(3, "dd-b"))
	create("tuned", brick(1, "tuned"))
	n1.Gluster(t, "volume", "start", "arb")
	n1.Gluster(t, "volume", "start", "tuned")
	n1.Gluster(t, "volume", "stop", "tuned")
	n1.Gluster(t, "volume", "set", "tuned", "user.note", "hello world")
	n1.Gluster(t, "volume", "set", "tuned", "user.api-token", "must not show")
	n1.Gluster(t, "volume", "set", "tuned", "performance.cache-size", "64MB")

	for _, v := range []string{"dist", "drep", "arb", "ddisp", "tuned"} {
		save("volume-"+v, func() error { _, err := rpc.Volume(ctx, v); return err }, "volume", "info", v)
	}
	save("volume-missing", func() error { _, err := rpc.Volume(ctx, "missing"); return err })
	save("volume-next-first", func() error {
		_, err := rpc.callDict(ctx, procGetVolume, "walk", Dict{"flags": "3"})
		return err
	})
	save("volume-next-after-last", func() error {
		_, err := rpc.callDict(ctx, procGetVolume, "walk", Dict{"flags": "3", "volname": "tuned"})
		return err
	})
	save("peers", func() error { _, err := rpc.Peers(ctx); return err }, "peer", "status")
	save("uuid", func() error { _, err := rpc.LocalUUID(ctx); return err })
	save("getwd", func() error { _, err := rpc.Workdir(ctx); return err })
	save("op-version", func() error { _, err := rpc.OpVersion(ctx); return err }, "volume", "get", "all", "cluster.op-version")

	// What glusterd sends to an idle connection when volume files change.
	conn, _, err := rpc.conn(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	got.Reset()
	n1.Gluster(t, "volume", "set", "dist", "user.note", "x")
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := readRecord(conn, DefaultMaxReply); err != nil {
		t.Errorf("no call from glusterd on an idle connection: %v", err)
	} else {
		write("fetchspec-call.rec", bytes.Clone(got.Bytes()))
	}
	conn.Close()

	n3.StopGlusterd(t)
	for deadline := time.Now().Add(time.Minute); ; {
		peers, err := rpc.Peers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		down := false
		for _, p := range peers {
			down = down || (p.Hostname == n3.Addr && !p.Connected)
		}
		if down {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("node 3 never seen disconnected")
		}
		time.Sleep(200 * time.Millisecond)
	}
	save("peers-node3-down", func() error { _, err := rpc.Peers(ctx); return err }, "peer", "status")
}

// TestCaptureGetState captures get-state over the socket on a cluster of
// two nodes with a started replica volume: the reply (get-state.rec), the
// file glusterd wrote (get-state.txt), and the reply to an output directory
// that does not exist (get-state-no-dir.rec).
//
//	go test -tags capture -run TestCaptureGetState -v ./internal/glusterd/
func TestCaptureGetState(t *testing.T) {
	c := testbed.Start(t, 2)
	n1, n2 := c.Nodes[0], c.Nodes[1]
	ctx := context.Background()
	var got bytes.Buffer
	rpc := &Client{Socket: n1.Socket, Timeout: time.Minute, dial: func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "unix", n1.Socket)
		if err != nil {
			return nil, err
		}
		return teeConn{conn, &got}, nil
	}}
	defer rpc.Close()
	n1.Gluster(t, "volume", "create", "rep", "replica", "2",
		n1.Addr+":"+c.BrickDir(1, "rep"), n2.Addr+":"+c.BrickDir(2, "rep"), "force")
	n1.Gluster(t, "volume", "start", "rep")

	dir := t.TempDir()
	if _, err := rpc.callDict(ctx, procGetState, "get-state", Dict{
		"daemon": "glusterd", "odir": dir, "filename": "state", "getstate-cmd": "1",
	}); err != nil {
		t.Fatal(err)
	}
	rec := bytes.Clone(got.Bytes())
	state, err := os.ReadFile(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	got.Reset()
	_, err = rpc.callDict(ctx, procGetState, "get-state", Dict{
		"daemon": "glusterd", "odir": filepath.Join(dir, "missing"), "filename": "state", "getstate-cmd": "1",
	})
	t.Logf("no such directory: %v", err)
	noDir := bytes.Clone(got.Bytes())
	for name, data := range map[string][]byte{"get-state.rec": rec, "get-state.txt": state, "get-state-no-dir.rec": noDir} {
		if err := os.WriteFile(filepath.Join("testdata", name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCaptureVolumeList captures LIST_VOLUME's answer (volume-list.rec) for
// volumes of the names the other captures have, on one node.
//
//	go test -tags capture -run TestCaptureVolumeList -v ./internal/glusterd/
func TestCaptureVolumeList(t *testing.T) {
	c := testbed.Start(t, 1)
	n1 := c.Nodes[0]
	var got bytes.Buffer
	rpc := &Client{Socket: n1.Socket, Timeout: time.Minute, dial: func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "unix", n1.Socket)
		if err != nil {
			return nil, err
		}
		return teeConn{conn, &got}, nil
	}}
	defer rpc.Close()
	for _, v := range []string{"tuned", "dist", "drep", "arb", "ddisp"} {
		n1.Gluster(t, "volume", "create", v, n1.Addr+":"+c.BrickDir(1, v), "force")
	}
	names, err := rpc.VolumeNames(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("volume list: %q", names)
	if err := os.WriteFile(filepath.Join("testdata", "volume-list.rec"), bytes.Clone(got.Bytes()), 0o644); err != nil {
		t.Fatal(err)
	}
}
