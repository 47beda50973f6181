package glusterd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/gluster"
	"github.com/glusterbus/glusterbus/internal/testbed"
)

// syncBuffer is a log destination safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSourceFallsBack: an answer not understood is read through the real
// CLI, a socket that cannot be reached is left alone for Retry, and the log
// says each once.
func TestSourceFallsBack(t *testing.T) {
	c := testbed.Start(t, 1)
	n1 := c.Nodes[0]
	n1.Gluster(t, "volume", "create", "one", n1.Addr+":"+c.BrickDir(1, "one"), "force")
	cli := &gluster.CLI{Command: n1.CLI(), Timeout: time.Minute}
	ctx := context.Background()
	want, err := cli.VolumeInfo(ctx, "one")
	if err != nil {
		t.Fatal(err)
	}

	// A socket whose volume answers lack a brick's UUID; its UUID is the
	// captured one, not this node's.
	bad := cliDict(t, "volume-dist.rec")
	delete(bad, "volume0.brick1.uuid")
	var badRec []byte
	{
		var w xdrWriter
		w.uint32(0)
		w.uint32(msgReply)
		for range 5 {
			w.uint32(0) // accepted, verifier, success, op_ret
		}
		w.uint32(0) // op_errno
		w.opaque(nil)
		w.opaque(encodeDict(bad))
		badRec = append(binary.BigEndian.AppendUint32(nil, lastFragment|uint32(len(w.b))), w.b...)
	}
	answer := captured(t)
	srv := newReplay(t, false, func(proc uint32, args Dict) []byte {
		switch proc {
		case procGetVolume:
			return badRec
		case procGetState:
			return readTestdata(t, "get-state.rec") // and no file written
		}
		return answer(proc, args)
	})
	logs := &syncBuffer{}
	src := &Source{RPC: &Client{Socket: srv.sock}, CLI: cli, Log: slog.New(slog.NewTextHandler(logs, nil))}
	defer src.RPC.Close()
	for range 3 {
		got, err := src.VolumeInfo(ctx, "one")
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("VolumeInfo = %+v, %v; want the CLI's %+v", got, err, want)
		}
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Errorf("%d log lines about answers not understood, want 1:\n%s", n, logs)
	}
	self, _ := cli.LocalUUID(ctx)
	if u, err := src.LocalUUID(ctx); err != nil || u == self {
		t.Errorf("LocalUUID = %q, %v: not through the socket", u, err)
	}
	// get-state said done and wrote no file: this node's state through the
	// CLI, said once more.
	for range 2 {
		if st, err := src.LocalState(ctx); err != nil || st.UUID != self {
			t.Fatalf("LocalState = %+v, %v; want the CLI's, UUID %s", st, err, self)
		}
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 2 {
		t.Errorf("%d log lines about answers not understood, want 2:\n%s", n, logs)
	}

	// A socket that cannot be reached: the CLI, and the socket again only
	// after Retry.
	var dials atomic.Int32
	now := time.Unix(1000, 0)
	var clock sync.Mutex
	logs = &syncBuffer{}
	gone := &Source{
		RPC: &Client{dial: func(context.Context) (net.Conn, error) {
			dials.Add(1)
			return nil, errors.New("connection refused")
		}},
		CLI:   cli,
		Log:   slog.New(slog.NewTextHandler(logs, nil)),
		Retry: time.Minute,
		Now:   func() time.Time { clock.Lock(); defer clock.Unlock(); return now },
	}
	for range 3 {
		if u, err := gone.LocalUUID(ctx); err != nil || u != self {
			t.Fatalf("LocalUUID = %q, %v; want the CLI's %q", u, err, self)
		}
	}
	if dials.Load() != 1 {
		t.Errorf("%d dials within the retry period, want 1", dials.Load())
	}
	clock.Lock()
	now = now.Add(time.Minute)
	clock.Unlock()
	if _, err := gone.Peers(ctx); err != nil {
		t.Fatal(err)
	}
	if dials.Load() != 2 {
		t.Errorf("%d dials after the retry period, want 2", dials.Load())
	}
	if n := strings.Count(logs.String(), "reading through the gluster CLI"); n != 1 {
		t.Errorf("%d log lines about the CLI, want 1:\n%s", n, logs)
	}

	// No socket configured: the CLI, said once.
	logs = &syncBuffer{}
	none := &Source{CLI: cli, Log: slog.New(slog.NewTextHandler(logs, nil))}
	for range 2 {
		if _, err := none.OpVersion(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(logs.String(), "no glusterd socket"); n != 1 {
		t.Errorf("%d log lines, want 1:\n%s", n, logs)
	}
}
