package hooks

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// recorded is one hook call of testdata/args.txt.
type recorded struct {
	line int
	op   string
	want string // the volume of the request, "" for a reload of everything
	args []string
}

func readRecorded(t testing.TB) []recorded {
	t.Helper()
	f, err := os.Open("testdata/args.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var calls []recorded
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		fields := strings.Split(l, "\t")
		if len(fields) < 3 {
			t.Fatalf("testdata/args.txt:%d: want <op> <volume> <args>...: %q", n, l)
		}
		c := recorded{line: n, op: fields[0], want: fields[1], args: fields[2:]}
		if c.want == "-" {
			c.want = ""
		}
		calls = append(calls, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return calls
}

func TestParseArgsRecorded(t *testing.T) {
	calls := readRecorded(t)
	seen := map[string]bool{}
	for _, c := range calls {
		seen[c.op] = true
		r, err := ParseArgs(c.op, c.args)
		if err != nil {
			t.Errorf("args.txt:%d: %v", c.line, err)
			continue
		}
		if r != (Request{Op: c.op, Volume: c.want}) {
			t.Errorf("args.txt:%d: ParseArgs(%q, %q) = %+v, want volume %q", c.line, c.op, c.args, r, c.want)
		}
	}
	for _, op := range Ops {
		if !seen[op] {
			t.Errorf("testdata/args.txt has no call of %s", op)
		}
	}
}

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		op   string
		args []string
		want Request
	}{
		{"create", []string{"--volname=gv0"}, Request{"create", "gv0"}},
		{"stop", []string{"--volname=My_Vol-9", "--last=no"}, Request{"stop", "My_Vol-9"}},
		{"set", []string{"--volname=all", "-o", "cluster.brick-multiplex=on"}, Request{"set", ""}},
		{"set", []string{"--volname=gv0", "-o", "user.x=--volname=gv1"}, Request{"set", "gv0"}},
		{"start", nil, Request{"start", ""}},
		{"start", []string{"--first=no", "--volname", "gv0"}, Request{"start", ""}},
		{"delete", []string{"--volname=gv0", "--volname=gv0"}, Request{"delete", "gv0"}},
		{"reset", []string{"--volname=" + strings.Repeat("v", maxVolumeName)}, Request{"reset", strings.Repeat("v", maxVolumeName)}},
	} {
		got, err := ParseArgs(tc.op, tc.args)
		if err != nil || got != tc.want {
			t.Errorf("ParseArgs(%q, %q) = %+v, %v; want %+v", tc.op, tc.args, got, err, tc.want)
		}
	}
}

func TestParseArgsHostile(t *testing.T) {
	for _, tc := range []struct {
		op   string
		args []string
		msg  string
	}{
		{"", []string{"--volname=gv0"}, "unknown operation"},
		{"gsync-create", []string{"--volname=gv0"}, "unknown operation"},
		{"Create", []string{"--volname=gv0"}, "unknown operation"},
		{"../../create", []string{"--volname=gv0"}, "unknown operation"},
		{"create\n", []string{"--volname=gv0"}, "unknown operation"},
		{"create", []string{"--volname="}, "empty volume name"},
		{"create", []string{"--volname=$(rm -rf /)"}, "invalid volume name"},
		{"create", []string{"--volname=gv0;reboot"}, "invalid volume name"},
		{"create", []string{"--volname=`id`"}, "invalid volume name"},
		{"create", []string{"--volname=../../etc/passwd"}, "invalid volume name"},
		{"create", []string{"--volname=gv0 gv1"}, "invalid volume name"},
		{"create", []string{"--volname=gv0\n"}, "invalid volume name"},
		{"create", []string{"--volname=gv\x000"}, "invalid volume name"},
		{"create", []string{"--volname=gv\xff"}, "invalid volume name"},
		{"create", []string{"--volname=gv\u00e9"}, "invalid volume name"},
		{"create", []string{"--volname=" + strings.Repeat("v", maxVolumeName+1)}, "longer than"},
		{"create", []string{"--volname=gv0", "--volname=gv1"}, "two different volume names"},
		{"set", []string{"--volname=gv0", "-o", "k=v", "--volname=all"}, "two different volume names"},
	} {
		got, err := ParseArgs(tc.op, tc.args)
		if err == nil {
			t.Errorf("ParseArgs(%q, %q) = %+v, want an error", tc.op, tc.args, got)
			continue
		}
		if !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("ParseArgs(%q, %q): %v, want %q", tc.op, tc.args, err, tc.msg)
		}
		if got != (Request{}) {
			t.Errorf("ParseArgs(%q, %q) returned %+v with its error", tc.op, tc.args, got)
		}
	}
}

// FuzzParseArgs checks that ParseArgs never panics and that what it accepts
// is a known op and a plain volume name taken from a --volname argument.
// The arguments are the fuzzed string split at NUL bytes.
func FuzzParseArgs(f *testing.F) {
	for _, c := range readRecorded(f) {
		f.Add(c.op, strings.Join(c.args, "\x00"))
	}
	f.Add("create", "--volname=$(id)")
	f.Add("set", "--volname=a\x00--volname=b")
	f.Add("nope", "")
	f.Fuzz(func(t *testing.T, op, joined string) {
		args := strings.Split(joined, "\x00")
		r, err := ParseArgs(op, args)
		if err != nil {
			if r != (Request{}) {
				t.Fatalf("request %+v with error %v", r, err)
			}
			if !utf8.ValidString(err.Error()) {
				t.Fatalf("error is not UTF-8: %q", err)
			}
			return
		}
		if r.Op != op || !slices.Contains(Ops, op) {
			t.Fatalf("op %q accepted as %q", op, r.Op)
		}
		if r.Volume == "" {
			return
		}
		if checkVolumeName(r.Volume) != nil || r.Volume == "all" {
			t.Fatalf("volume %q accepted", r.Volume)
		}
		if !slices.Contains(args, volnameFlag+r.Volume) {
			t.Fatalf("volume %q not among the arguments %q", r.Volume, args)
		}
	})
}
