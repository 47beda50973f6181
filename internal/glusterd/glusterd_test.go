package glusterd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/gluster"
)

// The .rec files in testdata are replies of a real glusterd 10.3, with the
// CLI's XML for the same questions (capture_test.go).

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// decodeRecord reads a captured reply record down to its gf_cli_rsp.
func decodeRecord(t testing.TB, rec []byte) []byte {
	t.Helper()
	body, err := readRecord(bytes.NewReader(rec), DefaultMaxReply)
	if err != nil {
		t.Fatal(err)
	}
	res, err := parseReply(body, binary.BigEndian.Uint32(body), 0)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func cliDict(t testing.TB, name string) Dict {
	t.Helper()
	rsp, err := parseCLIResponse(decodeRecord(t, readTestdata(t, name)))
	if err != nil {
		t.Fatal(err)
	}
	d, err := decodeDict(rsp.Dict)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestCapturedVolumesAsTheCLI(t *testing.T) {
	for _, name := range []string{"dist", "drep", "arb", "ddisp", "tuned"} {
		fromRPC, err := volumesFromDict(cliDict(t, "volume-"+name+".rec"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		fromCLI, err := gluster.ParseVolumeInfo(readTestdata(t, "volume-"+name+".xml"))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fromRPC, fromCLI) {
			t.Errorf("%s:\nsocket %+v\nCLI    %+v", name, fromRPC, fromCLI)
		}
	}
	tuned, _ := volumesFromDict(cliDict(t, "volume-tuned.rec"))
	if _, ok := tuned[0].Options["user.api-token"]; ok || tuned[0].Options["user.note"] != "hello world" {
		t.Errorf("tuned options %v", tuned[0].Options)
	}
}

func TestCapturedPeersAsTheCLI(t *testing.T) {
	for _, name := range []string{"peers", "peers-node3-down"} {
		r := &xdrReader{b: decodeRecord(t, readTestdata(t, name+".rec"))}
		r.int32("op_ret")
		r.int32("op_errno")
		friends, err := r.opaque("friends", 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		d, err := decodeDict(friends)
		if err != nil {
			t.Fatal(err)
		}
		fromRPC, err := peersFromDict(d)
		if err != nil {
			t.Fatal(err)
		}
		fromCLI, err := gluster.ParsePeerStatus(readTestdata(t, name+".xml"))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fromRPC, fromCLI) {
			t.Errorf("%s:\nsocket %+v\nCLI    %+v", name, fromRPC, fromCLI)
		}
	}
}

// replay is a unix socket server that answers calls with captured records,
// chosen by answer; it tells what it was asked.
type replay struct {
	t      *testing.T
	sock   string
	answer func(proc uint32, args Dict) []byte // nil: no answer at all
	calls  atomic.Int32
	// hangUp closes the connection after each answer.
	hangUp bool
}

func newReplay(t *testing.T, hangUp bool, answer func(proc uint32, args Dict) []byte) *replay {
	r := &replay{t: t, sock: filepath.Join(t.TempDir(), "gd.sock"), answer: answer, hangUp: hangUp}
	l, err := net.Listen("unix", r.sock)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); r.serve(conn) }()
		}
	}()
	return r
}

func (r *replay) serve(conn net.Conn) {
	defer conn.Close()
	for {
		rec, err := readRecord(conn, 1<<20)
		if err != nil {
			return
		}
		r.calls.Add(1)
		xid, proc, args := parseCall(rec)
		reply := r.answer(proc, args)
		if reply == nil {
			continue
		}
		reply = bytes.Clone(reply)
		// Every captured reply is one fragment; give it this call's xid.
		for off := 0; off+8 <= len(reply); {
			n := int(binary.BigEndian.Uint32(reply[off:]) &^ lastFragment)
			if binary.BigEndian.Uint32(reply[off+8:]) == msgReply {
				binary.BigEndian.PutUint32(reply[off+4:], xid)
			}
			off += 4 + n
		}
		if _, err := conn.Write(reply); err != nil || r.hangUp {
			return
		}
	}
}

// parseCall reads what the replay server needs from a call record.
func parseCall(rec []byte) (xid, proc uint32, args Dict) {
	r := &xdrReader{b: rec}
	xid, _ = r.uint32("xid")
	for range 4 {
		r.uint32("header")
	}
	proc, _ = r.uint32("proc")
	r.uint32("cred flavor")
	r.opaque("cred", 400)
	r.uint32("verf flavor")
	r.opaque("verf", 400)
	if proc == procListFriends || proc == procGetwd {
		r.uint32("flags")
	}
	if proc == procGetwd {
		return xid, proc, nil
	}
	b, _ := r.opaque("dict", 1<<20)
	args, _ = decodeDict(b)
	return xid, proc, args
}

// captured answers every call from testdata, as glusterd did.
func captured(t *testing.T) func(proc uint32, args Dict) []byte {
	return func(proc uint32, args Dict) []byte {
		switch proc {
		case procGetVolume:
			switch {
			case args["flags"] == "3" && args["volname"] == "":
				return readTestdata(t, "volume-next-first.rec")
			case args["flags"] == "3":
				return readTestdata(t, "volume-next-after-last.rec")
			}
			if _, err := os.Stat(filepath.Join("testdata", "volume-"+args["volname"]+".rec")); err == nil {
				return readTestdata(t, "volume-"+args["volname"]+".rec")
			}
			return readTestdata(t, "volume-missing.rec")
		case procListVolume:
			return readTestdata(t, "volume-list.rec")
		case procListFriends:
			return readTestdata(t, "peers.rec")
		case procUUIDGet:
			return readTestdata(t, "uuid.rec")
		case procGetwd:
			return readTestdata(t, "getwd.rec")
		case procGetVolOpt:
			return readTestdata(t, "op-version.rec")
		case procGetState:
			// glusterd writes the state where it was asked to.
			err := os.WriteFile(filepath.Join(args["odir"], args["filename"]), readTestdata(t, "get-state.txt"), 0o644)
			if err != nil {
				t.Errorf("writing the state: %v", err)
			}
			return readTestdata(t, "get-state.rec")
		}
		t.Errorf("unexpected procedure %d", proc)
		return nil
	}
}

// TestCapturedGetStateAsTheCLI: get-state over the socket asks for the
// detailed dump in a private directory, reads it as the CLI path does and
// leaves nothing behind.
func TestCapturedGetStateAsTheCLI(t *testing.T) {
	var asked Dict
	answer := captured(t)
	srv := newReplay(t, false, func(proc uint32, args Dict) []byte {
		if proc == procGetState {
			asked = args
		}
		return answer(proc, args)
	})
	c := &Client{Socket: srv.sock}
	defer c.Close()
	ctx := context.Background()
	got, err := c.LocalState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, err := gluster.ParseGetState(readTestdata(t, "get-state.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LocalState = %+v, want %+v", got, want)
	}
	if len(got.Bricks) != 1 || !got.Bricks[0].Online || got.Bricks[0].Volume != "rep" || got.UUID == "" {
		t.Errorf("LocalState = %+v, want this node's one started brick of rep", got)
	}
	if asked["daemon"] != "glusterd" || asked["getstate-cmd"] != "1" || asked["filename"] == "" {
		t.Errorf("asked %v", asked)
	}
	if _, err := os.Stat(asked["odir"]); !os.IsNotExist(err) {
		t.Errorf("the output directory %s is left behind (%v)", asked["odir"], err)
	}
}

// TestGetStateFailures: a failure glusterd reports is its answer; a dump
// that is not where it was asked for is an answer not understood.
func TestGetStateFailures(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		reply string
		check func(error) bool
	}{
		{"no such directory", "get-state-no-dir.rec", func(err error) bool {
			var cliErr *gluster.CLIError
			return errors.As(err, &cliErr) && strings.Contains(cliErr.Message, "does not exist") &&
				!errors.Is(err, ErrNotUnderstood)
		}},
		{"success without a file", "get-state.rec", func(err error) bool { return errors.Is(err, ErrNotUnderstood) }},
	} {
		srv := newReplay(t, false, func(proc uint32, args Dict) []byte { return readTestdata(t, tc.reply) })
		c := &Client{Socket: srv.sock}
		st, err := c.LocalState(ctx)
		if st != nil || !tc.check(err) {
			t.Errorf("%s: LocalState = %+v, %v", tc.name, st, err)
		}
		c.Close()
	}
}

func TestClientReplaysGlusterd(t *testing.T) {
	srv := newReplay(t, false, captured(t))
	c := &Client{Socket: srv.sock}
	defer c.Close()
	ctx := context.Background()

	vols, err := c.VolumeInfo(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := capturedVolumes(t); !reflect.DeepEqual(vols, want) {
		t.Errorf("VolumeInfo(all) = %+v, want %+v", vols, want)
	}
	if _, err := c.VolumeInfo(ctx, "missing"); !errors.Is(err, gluster.ErrNoVolume) {
		t.Errorf("VolumeInfo(missing) = %v, want ErrNoVolume", err)
	}
	if _, err := c.VolumeInfo(ctx, "tuned"); err != nil {
		t.Error(err)
	}
	if u, err := c.LocalUUID(ctx); err != nil || len(u) != 36 {
		t.Errorf("LocalUUID = %q, %v", u, err)
	}
	if wd, err := c.Workdir(ctx); err != nil || !strings.HasSuffix(wd, "/glusterd") {
		t.Errorf("Workdir = %q, %v", wd, err)
	}
	wantOV, _ := gluster.ParseOpVersion(readTestdata(t, "op-version.xml"))
	if ov, err := c.OpVersion(ctx); err != nil || ov != wantOV || ov == 0 {
		t.Errorf("OpVersion = %d, %v; want %d", ov, err, wantOV)
	}
	if peers, err := c.Peers(ctx); err != nil || len(peers) != 2 {
		t.Errorf("Peers = %+v, %v", peers, err)
	}
	c.mu.Lock()
	idle := len(c.idle)
	c.mu.Unlock()
	if idle != 1 {
		t.Errorf("%d idle connections after calls one at a time, want 1", idle)
	}
}

// TestClientSkipsGlusterdsCalls: glusterd calls its clients when volume
// files change; such a call before the reply is passed over.
func TestClientSkipsGlusterdsCalls(t *testing.T) {
	call := readTestdata(t, "fetchspec-call.rec")
	uuid := readTestdata(t, "uuid.rec")
	srv := newReplay(t, false, func(proc uint32, args Dict) []byte {
		return append(append(bytes.Clone(call), call...), uuid...)
	})
	c := &Client{Socket: srv.sock}
	defer c.Close()
	for range 3 {
		if _, err := c.LocalUUID(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWalkRestartsAfterDeletion: a glusterd that does not know LIST_VOLUME
// is walked; it ends a walk early when the volume it goes on from is
// deleted, and the walk is made again.
func TestWalkRestartsAfterDeletion(t *testing.T) {
	var verified atomic.Int32
	answer := captured(t)
	srv := newReplay(t, false, func(proc uint32, args Dict) []byte {
		if proc == procListVolume {
			return refusedReply(3) // procedure unavailable
		}
		if proc == procGetVolume && args["flags"] == "2" && verified.Add(1) == 1 {
			return readTestdata(t, "volume-missing.rec") // arb was gone at first
		}
		return answer(proc, args)
	})
	c := &Client{Socket: srv.sock}
	defer c.Close()
	vols, err := c.Volumes(context.Background())
	if err != nil || len(vols) != 1 || verified.Load() != 2 {
		t.Errorf("Volumes = %+v, %v after %d checks", vols, err, verified.Load())
	}
}

func TestCallDeadline(t *testing.T) {
	srv := newReplay(t, false, func(uint32, Dict) []byte { return nil }) // never answers
	c := &Client{Socket: srv.sock, Timeout: 100 * time.Millisecond}
	defer c.Close()
	if _, err := c.Peers(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Peers on a silent socket = %v, want DeadlineExceeded", err)
	}
	c.Timeout = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for srv.calls.Load() < 2 {
			runtime.Gosched()
		}
		cancel()
	}()
	if _, err := c.Peers(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Peers cancelled = %v, want Canceled", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.idle) != 0 {
		t.Error("a connection that timed out was kept")
	}
}

func TestHostileReplies(t *testing.T) {
	reply := func(words ...uint32) []byte {
		var w xdrWriter
		for _, x := range words {
			w.uint32(x)
		}
		return w.b
	}
	record := func(body []byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, lastFragment|uint32(len(body))), body...)
	}
	accepted := func(rest ...uint32) []byte {
		return record(reply(append([]uint32{0, msgReply, 0, 0, 0, 0}, rest...)...))
	}
	for name, rec := range map[string][]byte{
		"auth error":        record(reply(0, msgReply, 1, 1, 2)),
		"rpc mismatch":      record(reply(0, msgReply, 1, 0, 2, 2)),
		"bad reply status":  record(reply(0, msgReply, 7)),
		"proc unavailable":  accepted(3),
		"garbage args":      accepted(4),
		"truncated":         accepted(0, 0),
		"errstr past end":   accepted(0, 0, 0, 0x7ffffff0),
		"dict past end":     accepted(0, 0, 0, 0, 0xfffffff0),
		"huge dict count":   accepted(0, 0, 0, 0, 8, 0x7fffffff, 0),
		"huge key length":   accepted(0, 0, 0, 0, 12, 1, 0x7fffffff, 0),
		"no count":          accepted(0, 0, 0, 0, 4, 0),
		"fragment past end": binary.BigEndian.AppendUint32(nil, lastFragment|0x7fffffff),
		"empty":             {},
	} {
		srv := newReplay(t, true, func(uint32, Dict) []byte { return rec })
		c := &Client{Socket: srv.sock, Timeout: time.Minute}
		_, err := c.LocalUUID(context.Background())
		var ce *gluster.CLIError
		if err == nil || errors.As(err, &ce) {
			t.Errorf("%s: %v", name, err)
		}
		if strings.Contains(name, "past end") || strings.Contains(name, "huge") || name == "proc unavailable" {
			if !errors.Is(err, ErrNotUnderstood) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("%s: %v, want ErrNotUnderstood or a truncated record", name, err)
			}
		}
		c.Close()
	}
}

func TestRecordOverLimit(t *testing.T) {
	var w bytes.Buffer
	for range 3 {
		w.Write(binary.BigEndian.AppendUint32(nil, 600))
		w.Write(make([]byte, 600))
	}
	if _, err := readRecord(&w, 1000); !errors.Is(err, ErrNotUnderstood) {
		t.Errorf("record of 1800 bytes with a limit of 1000: %v", err)
	}
}

// TestAllocationFollowsBytes: a header announcing a huge fragment or dict
// allocates for the bytes that came, not for the announcement.
func TestAllocationFollowsBytes(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		in := append(binary.BigEndian.AppendUint32(nil, lastFragment|0x7fffffff), make([]byte, 1000)...)
		if _, err := readRecord(bytes.NewReader(in), 1<<31); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("truncated fragment: %v", err)
		}
		if _, err := readRecordInto(bytes.NewReader(in), 1<<31, make([]byte, 0, 4096)); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("truncated fragment into a kept buffer: %v", err)
		}
		if _, err := decodeDict([]byte{0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 1}); err == nil {
			t.Fatal("dict with a huge count decoded")
		}
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
		t.Errorf("10 hostile headers allocated %d bytes", grew)
	}
}

func TestDictRoundTrip(t *testing.T) {
	d := Dict{"flags": "2", "volname": "vol", "": "", "binary": "x\xffy\x00z"}
	got, err := decodeDict(encodeDict(d))
	if err != nil || !reflect.DeepEqual(got, d) {
		t.Errorf("round trip: %q, %v", got, err)
	}
	if got, err := decodeDict(nil); err != nil || len(got) != 0 {
		t.Errorf("empty dict: %v, %v", got, err)
	}
	bad := map[string][]byte{
		"short count":    {0, 0, 1},
		"trailing bytes": append(encodeDict(Dict{"a": "b"}), 0),
		"duplicate key":  append(binary.BigEndian.AppendUint32(nil, 2), encodeDict(Dict{"a": "b"})[4:]...),
		"key without NUL": func() []byte {
			b := encodeDict(Dict{"a": "b"})
			b[13] = 'x'
			return b
		}(),
	}
	bad["duplicate key"] = append(bad["duplicate key"], encodeDict(Dict{"a": "b"})[4:]...)
	for name, b := range bad {
		if _, err := decodeDict(b); !errors.Is(err, ErrNotUnderstood) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestVolumeDictsNotUnderstood(t *testing.T) {
	good := cliDict(t, "volume-arb.rec")
	for _, change := range []struct {
		key, value string
		drop       bool
	}{
		{key: "volume0.name", drop: true},
		{key: "volume0.brick2.uuid", drop: true},
		{key: "volume0.status", value: "7"},
		{key: "volume0.type", value: "12"},
		{key: "volume0.brick_count", value: "100000"},
		{key: "volume0.replica_count", value: "-1"},
		{key: "count", value: "x"},
		{key: "count", value: "99"},
	} {
		d := Dict{}
		for k, v := range good {
			d[k] = v
		}
		if change.drop {
			delete(d, change.key)
		} else {
			d[change.key] = change.value
		}
		if _, err := volumesFromDict(d); !errors.Is(err, ErrNotUnderstood) {
			t.Errorf("%s=%q (drop %v): %v", change.key, change.value, change.drop, err)
		}
	}
	d := Dict{}
	for k, v := range good {
		d[k] = v
	}
	d["volume0.name"] = "bad\xffname"
	d["volume0.option.auth.login.x.password"] = "secret"
	vols, err := volumesFromDict(d)
	if err != nil || vols[0].Name != "bad\uFFFDname" {
		t.Errorf("invalid UTF-8: %+v, %v", vols, err)
	}
	for k := range vols[0].Options {
		if gluster.IsSecretOption(k) {
			t.Errorf("secret option %q kept", k)
		}
	}
}

// TestKeptConnectionClosed: a kept connection glusterd closed (it
// restarted) is replaced without an error.
func TestKeptConnectionClosed(t *testing.T) {
	srv := newReplay(t, true, captured(t))
	c := &Client{Socket: srv.sock}
	defer c.Close()
	for i := range 3 {
		if _, err := c.LocalUUID(context.Background()); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if n := srv.calls.Load(); n != 3 {
		t.Errorf("glusterd got %d calls, want 3", n)
	}
}

// TestConcurrentCalls: calls side by side each have a connection to
// themselves, and only a few are kept.
func TestConcurrentCalls(t *testing.T) {
	srv := newReplay(t, false, captured(t))
	c := &Client{Socket: srv.sock}
	defer c.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 8*20)
	for range 8 {
		wg.Go(func() {
			for range 20 {
				vols, err := c.VolumeInfo(context.Background(), "")
				if err == nil && (len(vols) != 5 || vols[0].Name != "arb") {
					err = errors.New("wrong volumes")
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.idle) > maxIdle {
		t.Errorf("%d idle connections, at most %d wanted", len(c.idle), maxIdle)
	}
}

// TestVolumeArgs: GET_VOLUME's arguments, written directly, are the dict
// encodeDict serializes, for names of every length modulo four; appended to
// a buffer, they follow what it held.
func TestVolumeArgs(t *testing.T) {
	for _, name := range []string{"v", "vo", "vol", "vol1", "vol02500", "a-longer-name_with.dots"} {
		var w xdrWriter
		w.opaque(encodeDict(Dict{"flags": strconv.Itoa(getVolume), "volname": name}))
		if got := volumeArgs(name); !bytes.Equal(got, w.b) {
			t.Errorf("volumeArgs(%q) = %x, want %x", name, got, w.b)
		}
		if got := appendVolumeArgs([]byte("head"), name); !bytes.Equal(got, append([]byte("head"), w.b...)) {
			t.Errorf("appendVolumeArgs(head, %q) = %x", name, got)
		}
	}
}

// TestAppendCall: calls appended one after the other are the records
// callRecord makes of each; a call over a fragment is refused.
func TestAppendCall(t *testing.T) {
	cred := credentials("host", 0, 0)
	var buf, want []byte
	for i, args := range [][]byte{nil, volumeArgs("a"), volumeArgs("a-longer-name")} {
		rec, err := callRecord(uint32(10+i), cliProgram, cliVersion, procGetVolume, cred, args)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, rec...)
		if buf, err = appendCall(buf, uint32(10+i), cliProgram, cliVersion, procGetVolume, cred, args); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(buf, want) {
		t.Errorf("appended calls %x, want %x", buf, want)
	}
	for off, i := 0, 0; off < len(buf); i++ {
		body, err := readRecord(bytes.NewReader(buf[off:]), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if xid, proc, _ := parseCall(body); xid != uint32(10+i) || proc != procGetVolume {
			t.Errorf("call %d: xid %d, procedure %d", i, xid, proc)
		}
		off += 4 + len(body)
	}
	if _, err := appendCall(buf, 1, cliProgram, cliVersion, procGetVolume, cred, make([]byte, maxFragment)); err == nil {
		t.Error("a call over a fragment appended")
	}
}
