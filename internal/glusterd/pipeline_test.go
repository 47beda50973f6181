package glusterd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/glusterbus/glusterbus/internal/gluster"
)

// capturedVolumes is what the CLI said of the five captured volumes, in
// glusterd's order.
func capturedVolumes(t testing.TB) []gluster.Volume {
	t.Helper()
	var all []gluster.Volume
	for _, name := range []string{"arb", "ddisp", "dist", "drep", "tuned"} {
		v, err := gluster.ParseVolumeInfo(readTestdata(t, "volume-"+name+".xml"))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, v...)
	}
	return all
}

// refusedReply is a reply record glusterd's RPC layer sends for a call it
// does not accept (accept status: 1 program unavailable, 3 procedure
// unavailable, ...); the replay server gives it the call's XID.
func refusedReply(status uint32) []byte {
	var w xdrWriter
	for _, x := range []uint32{0, msgReply, 0, authNone, 0, status} {
		w.uint32(x)
	}
	return append(binary.BigEndian.AppendUint32(nil, lastFragment|uint32(len(w.b))), w.b...)
}

// listReply is a LIST_VOLUME answer naming the volumes.
func listReply(names ...string) []byte {
	d := Dict{"count": fmt.Sprint(len(names))}
	for i, n := range names {
		d[fmt.Sprintf("volume%d", i)] = n
	}
	return cliReply(d)
}

// cliReply is an accepted reply carrying gf_cli_rsp with op_ret 0 and d.
func cliReply(d Dict) []byte {
	var w xdrWriter
	for _, x := range []uint32{0, msgReply, 0, authNone, 0, 0, 0, 0} {
		w.uint32(x)
	}
	w.opaque(nil) // op_errstr
	w.opaque(encodeDict(d))
	return append(binary.BigEndian.AppendUint32(nil, lastFragment|uint32(len(w.b))), w.b...)
}

// shuffler is a glusterd that reads calls as they come and answers each
// batch of them in reverse order, counting the calls it held unanswered.
type shuffler struct {
	sock        string
	answer      func(proc uint32, args Dict) []byte
	maxInFlight atomic.Int32
}

func newShuffler(t testing.TB, answer func(proc uint32, args Dict) []byte) *shuffler {
	s := &shuffler{sock: filepath.Join(t.TempDir(), "gd.sock"), answer: answer}
	l, err := net.Listen("unix", s.sock)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { s.serve(conn) })
		}
	})
	return s
}

func (s *shuffler) serve(conn net.Conn) {
	defer conn.Close()
	calls := make(chan []byte, 1024)
	go func() {
		defer close(calls)
		for {
			rec, err := readRecord(conn, 1<<20)
			if err != nil {
				return
			}
			calls <- rec
		}
	}()
	var out []byte
	for rec := range calls {
		batch := [][]byte{rec}
	more:
		for {
			select {
			case rec, ok := <-calls:
				if !ok {
					break more
				}
				batch = append(batch, rec)
			default:
				break more
			}
		}
		if n := int32(len(batch)); n > s.maxInFlight.Load() {
			s.maxInFlight.Store(n)
		}
		// One buffer for every batch: the benchmarks count this server's
		// garbage with the client's.
		out = out[:0]
		for _, rec := range slices.Backward(batch) {
			xid, proc, args := parseCall(rec)
			start := len(out)
			out = append(out, s.answer(proc, args)...)
			binary.BigEndian.PutUint32(out[start+4:], xid)
		}
		if _, err := conn.Write(out); err != nil {
			return
		}
	}
}

// TestVolumesPipelined: every volume of a long list is asked for on one
// connection, no more than maxInFlight calls waiting at once, and replies
// that come in any order land with their volumes.
func TestVolumesPipelined(t *testing.T) {
	const n = 3000
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("v%04d", i)
	}
	tuned := cliDict(t, "volume-tuned.rec")
	var gets atomic.Int32
	srv := newShuffler(t, func(proc uint32, args Dict) []byte {
		switch proc {
		case procListVolume:
			return listReply(names...)
		case procGetVolume:
			gets.Add(1)
			d := Dict{}
			for k, v := range tuned {
				d[k] = v
			}
			d["volume0.name"] = args["volname"]
			return cliReply(d)
		}
		return refusedReply(3)
	})
	c := &Client{Socket: srv.sock}
	defer c.Close()
	vols, err := c.Volumes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(vols) != n || gets.Load() != n {
		t.Fatalf("%d volumes after %d calls, want %d", len(vols), gets.Load(), n)
	}
	for i, v := range vols {
		if v.Name != names[i] || len(v.Bricks) != 1 || v.Options["user.note"] != "hello world" {
			t.Fatalf("volume %d = %+v", i, v)
		}
	}
	if m := srv.maxInFlight.Load(); m > maxInFlight || m < 2 {
		t.Errorf("at most %d calls waited at once, want 2..%d", m, maxInFlight)
	}
	c.mu.Lock()
	idle := len(c.idle)
	c.mu.Unlock()
	if idle != 1 {
		t.Errorf("%d idle connections, want the one of the pipeline kept", idle)
	}
}

// TestVolumesDeletedAfterTheList: a volume listed and gone by the time it
// is asked for is left out; the others are read.
func TestVolumesDeletedAfterTheList(t *testing.T) {
	answer := captured(t)
	srv := newReplay(t, false, func(proc uint32, args Dict) []byte {
		if proc == procGetVolume && args["volname"] == "drep" {
			return readTestdata(t, "volume-missing.rec")
		}
		return answer(proc, args)
	})
	c := &Client{Socket: srv.sock}
	defer c.Close()
	vols, err := c.Volumes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := slices.DeleteFunc(capturedVolumes(t), func(v gluster.Volume) bool { return v.Name == "drep" })
	if !reflect.DeepEqual(vols, want) {
		t.Errorf("Volumes = %+v, want %+v", vols, want)
	}
}

// TestListNotUnderstood: a list that cannot be read (or a glusterd without
// LIST_VOLUME) makes the read walk the volumes instead.
func TestListNotUnderstood(t *testing.T) {
	answer := captured(t)
	for name, list := range map[string][]byte{
		"count past its keys": cliReply(Dict{"count": "3", "volume0": "arb"}),
		"a name twice":        listReply("arb", "arb"),
		"no such procedure":   refusedReply(3),
	} {
		var walked atomic.Bool
		srv := newReplay(t, false, func(proc uint32, args Dict) []byte {
			if proc == procListVolume {
				return list
			}
			walked.Store(walked.Load() || args["flags"] == "3")
			return answer(proc, args)
		})
		c := &Client{Socket: srv.sock}
		// The captured walk ends after arb.
		vols, err := c.Volumes(context.Background())
		if err != nil || len(vols) != 1 || vols[0].Name != "arb" || !walked.Load() {
			t.Errorf("%s: Volumes = %+v, %v (walked: %v)", name, vols, err, walked.Load())
		}
		c.Close()
	}
}

// TestVolumesFailures: glusterd's failure fails the read; an answer about
// a volume that is not understood is ErrNotUnderstood (the CLI is asked
// instead).
func TestVolumesFailures(t *testing.T) {
	answer := captured(t)
	for _, tc := range []struct {
		name  string
		reply func(proc uint32, args Dict) []byte
		check func(error) bool
	}{
		{"another volume's answer", func(proc uint32, args Dict) []byte {
			if proc == procGetVolume && args["volname"] == "dist" {
				return readTestdata(t, "volume-arb.rec")
			}
			return answer(proc, args)
		}, func(err error) bool { return errors.Is(err, ErrNotUnderstood) }},
		{"glusterd fails the list", func(proc uint32, args Dict) []byte {
			if proc == procListVolume {
				return readTestdata(t, "volume-missing.rec")
			}
			return answer(proc, args)
		}, func(err error) bool {
			var cliErr *gluster.CLIError
			return errors.As(err, &cliErr) && !errors.Is(err, ErrNotUnderstood)
		}},
	} {
		srv := newReplay(t, false, tc.reply)
		c := &Client{Socket: srv.sock}
		vols, err := c.Volumes(context.Background())
		if vols != nil || !tc.check(err) {
			t.Errorf("%s: Volumes = %+v, %v", tc.name, vols, err)
		}
		c.Close()
	}
}

// TestUnchangedAnswerNotParsedAgain: the same answer about a volume gives
// the volume parsed the first time; a changed one is parsed.
func TestUnchangedAnswerNotParsedAgain(t *testing.T) {
	var changed atomic.Bool
	answer := captured(t)
	srv := newReplay(t, false, func(proc uint32, args Dict) []byte {
		if proc == procGetVolume && args["volname"] == "tuned" && changed.Load() {
			d := cliDict(t, "volume-tuned.rec")
			d["volume0.option.user.note"] = "changed"
			return cliReply(d)
		}
		return answer(proc, args)
	})
	c := &Client{Socket: srv.sock}
	defer c.Close()
	ctx := context.Background()
	first, err := c.Volumes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.Volumes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	same := func(a, b gluster.Volume) bool {
		return reflect.ValueOf(a.Options).Pointer() == reflect.ValueOf(b.Options).Pointer()
	}
	for i := range first {
		if !same(first[i], second[i]) {
			t.Errorf("%s parsed again from the same answer", first[i].Name)
		}
	}
	changed.Store(true)
	third, err := c.Volumes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tuned := third[4]; tuned.Name != "tuned" || tuned.Options["user.note"] != "changed" || same(tuned, first[4]) {
		t.Errorf("tuned after its answer changed = %+v", tuned)
	}
	if !same(third[0], first[0]) {
		t.Error("arb parsed again although its answer did not change")
	}
	// A volume gone is forgotten.
	if _, err := c.Volume(ctx, "missing"); !errors.Is(err, gluster.ErrNoVolume) {
		t.Error(err)
	}
	c.mu.Lock()
	kept := len(c.parsed)
	c.mu.Unlock()
	if kept != 5 {
		t.Errorf("%d volumes remembered, want 5", kept)
	}
	// A volume no longer listed is forgotten by the next read of all.
	c.mu.Lock()
	c.parsed["deleted"] = c.parsed["tuned"]
	c.mu.Unlock()
	if _, err := c.Volumes(ctx); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	_, ghost := c.parsed["deleted"]
	kept = len(c.parsed)
	c.mu.Unlock()
	if ghost || kept != 5 {
		t.Errorf("after a volume went from the list: %d volumes remembered (the deleted one: %v), want 5", kept, ghost)
	}
}

// TestUnchangedStateNotParsedAgain: the same get-state dump gives what it
// was parsed into, as a copy whose bricks are its own; a changed dump is
// parsed.
func TestUnchangedStateNotParsedAgain(t *testing.T) {
	dump := readTestdata(t, "get-state.txt")
	var mu sync.Mutex
	answer := captured(t)
	srv := newReplay(t, false, func(proc uint32, args Dict) []byte {
		if proc == procGetState {
			mu.Lock()
			defer mu.Unlock()
			if err := os.WriteFile(filepath.Join(args["odir"], args["filename"]), dump, 0o644); err != nil {
				t.Error(err)
			}
			return readTestdata(t, "get-state.rec")
		}
		return answer(proc, args)
	})
	c := &Client{Socket: srv.sock}
	defer c.Close()
	ctx := context.Background()
	first, err := c.LocalState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	parsed := c.state
	c.mu.Unlock()
	first.Bricks[0].Port = 1
	second, err := c.LocalState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	if c.state != parsed {
		t.Error("the same dump was parsed again")
	}
	c.mu.Unlock()
	want, _ := gluster.ParseGetState(dump)
	if second.Bricks[0].Port != want.Bricks[0].Port || second.UUID != want.UUID || len(second.Bricks) != len(want.Bricks) {
		t.Errorf("second read %+v, want %+v", second, want)
	}
	mu.Lock()
	dump = bytes.Replace(dump, []byte("Brick1.port: "), []byte("Brick1.port: 1"), 1)
	mu.Unlock()
	third, err := c.LocalState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if third.Bricks[0].Port == want.Bricks[0].Port {
		t.Errorf("a changed dump gave the old port %d", third.Bricks[0].Port)
	}
}

// TestStateChangedAtItsEndParsedAgain: a dump of many volumes is read
// through for its digest, so a change at its very end is parsed; the same
// dump again is not; a dump that is not one is not understood, and the
// next good one is parsed.
func TestStateChangedAtItsEndParsedAgain(t *testing.T) {
	const n = 300 // about 600 KB
	good := bigStateDump(t, n)
	dump := good
	var mu sync.Mutex
	srv := newShuffler(t, func(proc uint32, args Dict) []byte {
		if proc != procGetState {
			return refusedReply(3)
		}
		mu.Lock()
		defer mu.Unlock()
		if err := os.WriteFile(filepath.Join(args["odir"], args["filename"]), dump, 0o600); err != nil {
			t.Error(err)
		}
		return readTestdata(t, "get-state.rec")
	})
	setDump := func(b []byte) {
		mu.Lock()
		dump = b
		mu.Unlock()
	}
	c := &Client{Socket: srv.sock}
	defer c.Close()
	ctx := context.Background()
	parsed := func() *gluster.LocalState {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.state
	}
	first, err := c.LocalState(ctx)
	if err != nil || len(first.Bricks) != n {
		t.Fatalf("LocalState = %d bricks, %v", len(first.Bricks), err)
	}
	last := first.Bricks[n-1]
	before := parsed()

	port := fmt.Appendf(nil, "Volume%d.Brick1.port: %d\n", n, last.Port)
	i := bytes.LastIndex(good, port)
	if i < len(good)-4096 {
		t.Fatalf("the last brick's port is at %d of %d bytes", i, len(good))
	}
	changed := bytes.Clone(good)
	changed[i+len(port)-2]++ // the port's last digit
	setDump(changed)
	second, err := c.LocalState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := second.Bricks[n-1].Port; got == last.Port || parsed() == before {
		t.Errorf("a port changed at the end of the dump: still %d (parsed again: %v)", got, parsed() != before)
	}
	before = parsed()
	if third, err := c.LocalState(ctx); err != nil || parsed() != before || third.Bricks[n-1].Port != second.Bricks[n-1].Port {
		t.Errorf("the same dump again: parsed again %v, %v", parsed() != before, err)
	}

	setDump([]byte("not a dump\n"))
	if st, err := c.LocalState(ctx); st != nil || !errors.Is(err, ErrNotUnderstood) {
		t.Errorf("a dump that is none: %+v, %v", st, err)
	}
	setDump(good)
	if st, err := c.LocalState(ctx); err != nil || st.Bricks[n-1].Port != last.Port {
		t.Errorf("the first dump back: %v", err)
	}
}

// BenchmarkVolumesFromSocket reads every volume of a glusterd in this
// process (3 bricks each, the captured volume under new names): listed and
// pipelined, with every answer as last time (not parsed again) or all of
// them parsed; and walked one call after the other, as the CLI does.
func BenchmarkVolumesFromSocket(b *testing.B) {
	const n = 5000
	names, replies := volumeReplies(b, n)
	list, end := listReply(names...), cliReply(Dict{"count": "0"})
	srv := newShuffler(b, func(proc uint32, args Dict) []byte {
		switch {
		case proc == procListVolume:
			return list
		case proc == procGetVolume && args["flags"] == "2":
			return replies[args["volname"]]
		case proc == procGetVolume && args["flags"] == "3" && args["volname"] == "":
			return replies[names[0]]
		case proc == procGetVolume && args["flags"] == "3":
			var i int
			fmt.Sscanf(args["volname"], "vol%05d", &i)
			if i+1 < n {
				return replies[names[i+1]]
			}
			return end
		}
		return refusedReply(3)
	})
	ctx := context.Background()
	for _, way := range []struct {
		name string
		read func(c *Client) ([]gluster.Volume, error)
	}{
		{"pipelined-unchanged", func(c *Client) ([]gluster.Volume, error) { return c.Volumes(ctx) }},
		{"pipelined-all-parsed", func(c *Client) ([]gluster.Volume, error) {
			c.mu.Lock()
			c.parsed = nil
			c.mu.Unlock()
			return c.Volumes(ctx)
		}},
		{"walk-all-parsed", func(c *Client) ([]gluster.Volume, error) {
			c.mu.Lock()
			c.parsed = nil
			c.mu.Unlock()
			return c.walk(ctx)
		}},
	} {
		b.Run(fmt.Sprintf("%s/volumes=%d", way.name, n), func(b *testing.B) {
			c := &Client{Socket: srv.sock}
			defer c.Close()
			if _, err := c.Volumes(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				vols, err := way.read(c)
				if err != nil || len(vols) != n {
					b.Fatalf("%d volumes, %v", len(vols), err)
				}
			}
		})
	}
}

// TestNoVolumes: an empty list is no volume, without asking for any.
func TestNoVolumes(t *testing.T) {
	srv := newReplay(t, false, func(proc uint32, args Dict) []byte {
		if proc != procListVolume {
			t.Errorf("procedure %d asked", proc)
		}
		return listReply()
	})
	c := &Client{Socket: srv.sock}
	defer c.Close()
	if vols, err := c.Volumes(context.Background()); err != nil || len(vols) != 0 {
		t.Errorf("Volumes = %+v, %v", vols, err)
	}
}

// TestRepliesShareOneBuffer: the replies of a pipeline are read into one
// buffer, grown for a larger reply, and each is handed on whole; a reply
// over the limit still fails the read.
func TestRepliesShareOneBuffer(t *testing.T) {
	const first = 7
	results := func(i, size int) []byte { return bytes.Repeat([]byte{byte('a' + i)}, size) }
	read := func(max int, sizes []int) (arrays []*byte, err error) {
		client, server := net.Pipe()
		defer client.Close()
		go func() {
			defer server.Close()
			for i, size := range sizes {
				rec := replyRecord(0, results(i, size))
				binary.BigEndian.PutUint32(rec[4:], first+uint32(i))
				if _, err := server.Write(rec); err != nil {
					return
				}
			}
		}()
		window := make(chan struct{}, len(sizes))
		for range sizes {
			window <- struct{}{}
		}
		answered, _, err := readReplies(client, max, window, first, procGetVolume, len(sizes), func(i int, res []byte) error {
			if !bytes.Equal(res, results(i, sizes[i])) {
				t.Errorf("reply %d: %d bytes %.10q..., want %d of %c", i, len(res), res, sizes[i], 'a'+i)
			}
			arrays = append(arrays, unsafe.SliceData(res))
			return nil
		})
		if err == nil && answered != len(sizes) {
			t.Errorf("%d replies answered, want %d", answered, len(sizes))
		}
		return arrays, err
	}

	arrays, err := read(1<<20, []int{100, 5000, 10, 5000, 200000, 3})
	if err != nil {
		t.Fatal(err)
	}
	// 5000 bytes grow the buffer of the first reply; the two replies after
	// fit in it, as the last does in the one grown for 200000 bytes.
	if arrays[2] != arrays[1] || arrays[3] != arrays[1] || arrays[5] != arrays[4] {
		t.Error("a reply that fits was not read into the buffer of the one before")
	}

	arrays, err = read(1000, []int{10, 2000})
	if !errors.Is(err, ErrNotUnderstood) || len(arrays) != 1 {
		t.Errorf("a reply of 2000 bytes with a limit of 1000 after a small one: %d read, %v", len(arrays), err)
	}
}
