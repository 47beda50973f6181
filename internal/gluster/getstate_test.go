package gluster

import (
	"os"
	"strings"
	"testing"
)

func TestParseGetState(t *testing.T) {
	data, err := os.ReadFile("testdata/get-state-10.3-detail.txt")
	if err != nil {
		t.Fatal(err)
	}
	st, err := ParseGetState(data)
	if err != nil {
		t.Fatal(err)
	}
	if st.UUID != "2b3a314a-eba3-43b8-835c-606c6cc7454e" || st.OpVersion != 100000 {
		t.Errorf("identity = %q %d", st.UUID, st.OpVersion)
	}
	// Only this node's bricks: dv's, rv's first, sv's first.
	var got []string
	for _, b := range st.Bricks {
		got = append(got, b.Volume+" "+b.Host+":"+b.Path[strings.LastIndex(b.Path, "/")+1:])
	}
	want := []string{"dv 127.1.1.1:dv", "rv 127.1.1.1:rv", "sv 127.1.1.1:sv"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("bricks = %v, want %v", got, want)
	}
	rv := st.Bricks[1]
	if !rv.Online || rv.Port != 52996 || rv.SizeFree != 257759256576 || rv.SizeTotal != 270553174016 ||
		rv.HostUUID != st.UUID || rv.Pid != -1 {
		t.Errorf("rv brick = %+v", rv)
	}
	if sv := st.Bricks[2]; sv.Online || sv.Port != 0 {
		t.Errorf("stopped volume's brick = %+v, want offline with no port", sv)
	}
}

func TestParseGetStateKilledBrick(t *testing.T) {
	data, err := os.ReadFile("testdata/get-state-10.3-brick-killed.txt")
	if err != nil {
		t.Fatal(err)
	}
	st, err := ParseGetState(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range st.Bricks {
		if b.Volume == "rv" && (b.Online || b.Port != 0) {
			t.Errorf("killed brick = %+v, want offline", b)
		}
	}
}

func TestParseGetStateRejectsOtherText(t *testing.T) {
	for _, in := range []string{"", "Connection failed. Please check if gluster daemon is operational.\n", "[Global]\nMYUUID: x\n"} {
		if _, err := ParseGetState([]byte(in)); err == nil {
			t.Errorf("ParseGetState(%q) = nil error", in)
		}
	}
}

func FuzzParseGetState(f *testing.F) {
	for _, name := range []string{"testdata/get-state-10.3-detail.txt", "testdata/get-state-10.3-brick-killed.txt"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := ParseGetState(data)
		if err != nil {
			return
		}
		for _, b := range st.Bricks {
			if b.Volume == "" || b.Path == "" || (!b.Online && b.Port != 0) {
				t.Fatalf("brick %+v", b)
			}
		}
	})
}
