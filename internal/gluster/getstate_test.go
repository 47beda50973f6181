package gluster

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"testing/iotest"
)

func TestParseGetState(t *testing.T) {
	_, st := parsedCapture(t, "get-state-10.3-detail.txt")
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
	_, st := parsedCapture(t, "get-state-10.3-brick-killed.txt")
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
	for _, name := range []string{"testdata/get-state-10.3-detail.txt", "testdata/get-state-10.3-brick-killed.txt",
		"testdata/get-state-10.3-rebalance-running.txt", "testdata/get-state-10.3-remove-brick-completed.txt"} {
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
		for _, task := range st.Tasks {
			if task.Volume == "" || task.ID == "" || task.ID == zeroUUID || task.Status == "" || task.Status == "not started" {
				t.Fatalf("task %+v", task)
			}
		}
	})
}

func FuzzAddNodeState(f *testing.F) {
	for _, name := range []string{"testdata/node-state-10.3-rebalance-running.info", "testdata/node-state-10.3-remove-brick-completed.info"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		task := Task{ID: "4c243348-f25c-4b61-9f00-282253a6f565"}
		AddNodeState(&task, data)
		if task.Type != "" && task.Type != TaskRebalance && task.Type != TaskRemoveBrick {
			t.Fatalf("type %q", task.Type)
		}
	})
}

func TestParseGetStateTasks(t *testing.T) {
	read := func(name string) []byte {
		data, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	for _, tc := range []struct {
		dump, nodeState string
		want            Task
	}{
		{"get-state-10.3-rebalance-running.txt", "node-state-10.3-rebalance-running.info", Task{
			Volume: "dist", ID: "9950c195-d1bb-4aa3-85a9-843773abf16e", Type: TaskRebalance, Status: "in progress",
			Data: "0Bytes", HaveDetail: true}},
		{"get-state-10.3-rebalance-completed.txt", "node-state-10.3-rebalance-completed.info", Task{
			Volume: "dist", ID: "9950c195-d1bb-4aa3-85a9-843773abf16e", Type: TaskRebalance, Status: "completed",
			Files: 2305, Data: "9.0MB", Lookups: 3000, DataBytes: 9441280, RunTimeSecs: 93, HaveDetail: true}},
		{"get-state-10.3-remove-brick-completed.txt", "node-state-10.3-remove-brick-completed.info", Task{
			Volume: "dist", ID: "4c243348-f25c-4b61-9f00-282253a6f565", Type: TaskRemoveBrick, Status: "completed",
			Files: 773, Data: "3.0MB", Lookups: 1468, DataBytes: 3166208, RunTimeSecs: 27, HaveDetail: true}},
	} {
		st, err := ParseGetState(read(tc.dump))
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Tasks) != 1 || len(st.Volumes) != 1 || st.Volumes[0] != "dist" {
			t.Fatalf("%s: tasks %+v, volumes %v", tc.dump, st.Tasks, st.Volumes)
		}
		got := st.Tasks[0]
		AddNodeState(&got, read(tc.nodeState))
		if got != tc.want {
			t.Errorf("%s: task\n %+v, want\n %+v", tc.dump, got, tc.want)
		}
	}
	// No task: glusterd shows a zero id and not_started.
	st, err := ParseGetState(read("get-state-10.3-detail.txt"))
	if err != nil || len(st.Tasks) != 0 || len(st.Volumes) != 3 {
		t.Errorf("no task: %+v, %v", st, err)
	}
	if len(st.Healed) != 1 || !st.Healed["rv"] {
		t.Errorf("volumes that self-heal: %v, want rv only", st.Healed)
	}
	// node_state.info of another task says nothing of this one.
	other := Task{ID: "9950c195-d1bb-4aa3-85a9-843773abf16e"}
	AddNodeState(&other, read("node-state-10.3-remove-brick-completed.info"))
	if other.Type != "" || other.HaveDetail {
		t.Errorf("another task's node_state.info was taken: %+v", other)
	}
}

// TestDumpLocalState: the dump is written in a private directory, read
// and parsed as ParseGetState parses it, and the directory removed; a dump
// that fails is its error, a file that is not there one of get-state.
func TestDumpLocalState(t *testing.T) {
	data, want := parsedCapture(t, "get-state-10.3-detail.txt")
	var dirs []string
	write := func(dir, file string) error {
		dirs = append(dirs, dir)
		return os.WriteFile(filepath.Join(dir, file), data, 0o600)
	}
	got, err := DumpLocalState(write)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("DumpLocalState = %+v, %v; want %+v", got, err, want)
	}

	failed := errors.New("glusterd said no")
	if _, err := DumpLocalState(func(dir, file string) error { dirs = append(dirs, dir); return failed }); err != failed {
		t.Errorf("a dump that failed: %v", err)
	}
	_, err = DumpLocalState(func(dir, file string) error { dirs = append(dirs, dir); return nil })
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "gluster get-state: open ") {
		t.Errorf("no dump written: %v", err)
	}
	for _, dir := range dirs {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind (%v)", dir, err)
		}
	}
}

// TestReadGetState: read as it is parsed, a dump gives what ParseGetState
// gives of it whole; an error reading it is get-state's, a line too long
// is not a dump.
func TestReadGetState(t *testing.T) {
	data, want := parsedCapture(t, "get-state-10.3-rebalance-running.txt")
	got, err := ReadGetState(iotest.OneByteReader(bytes.NewReader(data)))
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ReadGetState = %+v, %v; want %+v", got, err, want)
	}
	broken := io.MultiReader(bytes.NewReader(data[:len(data)/2]), iotest.ErrReader(syscall.EIO))
	if _, err := ReadGetState(broken); !errors.Is(err, syscall.EIO) || !strings.HasPrefix(err.Error(), "gluster get-state: ") {
		t.Errorf("a read that failed: %v", err)
	}
	long := append(bytes.Clone(data), bytes.Repeat([]byte("x"), 2<<20)...)
	if _, err := ReadGetState(bytes.NewReader(long)); !errors.Is(err, bufio.ErrTooLong) {
		t.Errorf("a line of 2 MiB: %v", err)
	}
}

// Under the systemd unit the dump goes where glusterd can write it: the
// service's runtime directory, which systemd names in $RUNTIME_DIRECTORY,
// not its private /tmp; and nothing of it is left there.
func TestDumpGoesToTheRuntimeDirectory(t *testing.T) {
	runtimeDir := t.TempDir()
	t.Setenv("RUNTIME_DIRECTORY", runtimeDir+":/run/other")
	data, err := os.ReadFile("testdata/get-state-10.3-detail.txt")
	if err != nil {
		t.Fatal(err)
	}
	var dumpedIn string
	st, err := DumpLocalState(func(dir, file string) error {
		dumpedIn = dir
		return os.WriteFile(filepath.Join(dir, file), data, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(dumpedIn) != runtimeDir || len(st.Bricks) == 0 {
		t.Errorf("dumped in %s (%d bricks read), want a directory of its own in %s", dumpedIn, len(st.Bricks), runtimeDir)
	}
	if left, _ := os.ReadDir(runtimeDir); len(left) != 0 {
		t.Errorf("left in the runtime directory: %v", left)
	}
}

// parsedCapture reads a captured get-state dump of testdata and parses it.
func parsedCapture(t *testing.T, name string) ([]byte, *LocalState) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	st, err := ParseGetState(data)
	if err != nil {
		t.Fatal(err)
	}
	return data, st
}
