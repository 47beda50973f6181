package glusterd

import (
	"encoding/binary"
	"errors"
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
		t.Error("a refused call is quotad's answer for a limit gone (10.3)")
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
