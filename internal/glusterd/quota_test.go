package glusterd

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"syscall"
	"testing"

	"github.com/glusterbus/glusterbus/internal/gluster"
)

// rawDict serializes pairs as GlusterFS does, binary values without a NUL.
func rawDict(pairs ...[2]string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(pairs)))
	for _, p := range pairs {
		b = binary.BigEndian.AppendUint32(b, uint32(len(p[0])))
		b = binary.BigEndian.AppendUint32(b, uint32(len(p[1])))
		b = append(append(append(b, p[0]...), 0), p[1]...)
	}
	return b
}

func getLimitReply(ret, errno int32, dict []byte) []byte {
	var w xdrWriter
	w.int32(ret)
	w.int32(errno)
	w.opaque(nil)
	w.opaque(dict)
	return w.b
}

func be64(vals ...int64) string {
	var b []byte
	for _, v := range vals {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	return string(b)
}

func TestParseGetLimit(t *testing.T) {
	// A hard limit whose last byte is 0, which a string value would lose.
	reply := getLimitReply(0, 0, rawDict(
		[2]string{ancestryKey, "/a\x00"},
		[2]string{quotaLimitKey, be64(10<<20, 50)},
		[2]string{quotaSizeKey, be64(7<<20, 1, 1)},
		[2]string{"type", "5\x00"},
	))
	got, err := parseGetLimit(reply, "g", "80%")
	want := gluster.QuotaLimit{Path: "/a", HardLimit: 10 << 20, SoftLimit: 5 << 20, Used: 7 << 20, Available: 3 << 20, SoftExceeded: true}
	if err != nil || got != want {
		t.Fatalf("got %+v, %v; want %+v", got, err, want)
	}

	if _, err := parseGetLimit(getLimitReply(-1, int32(syscall.ENOENT), nil), "g", ""); !errors.Is(err, syscall.ENOENT) || !goneLimit(err) {
		t.Errorf("ENOENT: %v", err)
	}
	for name, reply := range map[string][]byte{
		"no path":  getLimitReply(0, 0, rawDict([2]string{quotaLimitKey, be64(1, 1)})),
		"no limit": getLimitReply(0, 0, rawDict([2]string{ancestryKey, "/a\x00"})),
		"short":    getLimitReply(0, 0, nil)[:6],
		"failed":   getLimitReply(-1, 0, nil),
	} {
		if _, err := parseGetLimit(reply, "g", ""); err == nil {
			t.Errorf("%s: no error", name)
		} else if goneLimit(err) {
			t.Errorf("%s: taken for a limit gone: %v", name, err)
		}
	}
	if !goneLimit(&RPCError{Proc: procGetLimit, Reason: "garbage arguments"}) {
		t.Error("a call refused as garbage is quotad's answer for a limit gone (10.3)")
	}
	if goneLimit(&RPCError{Proc: procGetLimit, Reason: "program unavailable"}) {
		t.Error("a socket that is not quotad's taken for a limit gone")
	}
}

func FuzzParseGetLimit(f *testing.F) {
	f.Add(getLimitReply(0, 0, rawDict(
		[2]string{ancestryKey, "/a\x00"},
		[2]string{quotaLimitKey, be64(10<<20, -1)},
		[2]string{quotaSizeKey, be64(7 << 20)},
	)))
	f.Add(getLimitReply(-1, 2, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := parseGetLimit(data, "g", "80%")
		if err != nil {
			return
		}
		if l.Path == "" || l.SoftLimit > l.HardLimit || (l.HardExceeded && !l.SoftExceeded) {
			t.Fatalf("%+v", l)
		}
	})
}

// replyRecord is an accepted reply of one fragment (the replay server sets
// its xid) with the given accept status and body.
func replyRecord(accept uint32, body []byte) []byte {
	var w xdrWriter
	w.uint32(0) // length, set below
	w.uint32(0) // xid
	w.uint32(msgReply)
	w.uint32(0) // accepted
	w.uint32(authNone)
	w.opaque(nil)
	w.uint32(accept)
	w.b = append(w.b, body...)
	binary.BigEndian.PutUint32(w.b, lastFragment|uint32(len(w.b)-4))
	return w.b
}

// TestQuotaLimits reads quota.conf and asks a stand-in quotad per limit: a
// limit quotad refuses (its directory gone) is left out, unless every one
// is; no quota.conf is no limits; no quotad is an error.
func TestQuotaLimits(t *testing.T) {
	const garbage = 4
	gfids := map[string]string{
		"ab000000-0000-0000-0000-000000000001": "/b",
		"ab000000-0000-0000-0000-000000000002": "/a",
		"ab000000-0000-0000-0000-000000000003": "",
	}
	var mu sync.Mutex
	var asked []Dict
	q := newReplay(t, false, func(proc uint32, args Dict) []byte {
		mu.Lock()
		asked = append(asked, args)
		mu.Unlock()
		path := gfids[args["gfid"]]
		if proc != procGetLimit || path == "" {
			return replyRecord(garbage, nil)
		}
		return replyRecord(0, getLimitReply(0, 0, rawDict(
			[2]string{ancestryKey, path + "\x00"},
			[2]string{quotaLimitKey, be64(100, -1)},
			[2]string{quotaSizeKey, be64(90, 1, 1)},
		)))
	})
	wd := t.TempDir()
	conf := func(last ...byte) {
		b := []byte("GlusterFS Quota conf | version: v1.2\n")
		for _, l := range last {
			id := make([]byte, 16)
			id[0], id[15] = 0xab, l
			b = append(append(b, id...), 1)
		}
		if err := os.MkdirAll(filepath.Join(wd, "vols", "qv"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(wd, "vols", "qv", "quota.conf"), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	reader := &Quota{Workdir: wd, Socket: q.sock}
	defer reader.Close()
	ctx := context.Background()

	if got, err := reader.Limits(ctx, "qv", ""); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("no quota.conf: %v, %v", got, err)
	}
	conf(1, 2, 3)
	got, err := reader.Limits(ctx, "qv", "")
	if err != nil || len(got) != 2 || got[0].Path != "/a" || got[1].Path != "/b" || got[0].SoftLimit != 80 || !got[0].SoftExceeded {
		t.Fatalf("limits %+v, %v", got, err)
	}
	mu.Lock()
	first := asked[0]
	mu.Unlock()
	want := Dict{"gfid": "ab000000-0000-0000-0000-000000000001", "volume-uuid": "qv", "type": "5", "default-soft-limit": "80%"}
	if !reflect.DeepEqual(first, want) {
		t.Errorf("asked %v, want %v", first, want)
	}
	conf(3)
	if got, err := reader.Limits(ctx, "qv", ""); err == nil {
		t.Errorf("every limit refused: %+v, no error", got)
	}
	for _, bad := range []string{"", "..", "a/b"} {
		if _, err := reader.Limits(ctx, bad, ""); err == nil {
			t.Errorf("volume %q: no error", bad)
		}
	}
	conf(1)
	none := &Quota{Workdir: wd, Socket: filepath.Join(t.TempDir(), "none.sock")}
	if _, err := none.Limits(ctx, "qv", ""); err == nil {
		t.Error("no quotad: no error")
	}
}
