package nativeevents

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// captured is one datagram a real GlusterFS 10.3 emitter sent on a test
// machine (see testdata/README.md).
type captured struct {
	To       string `json:"to"`
	From     string `json:"from"`
	Datagram string `json:"datagram"`
	Origin   string `json:"origin,omitempty"`
}

func loadCaptured(t testing.TB) []captured {
	t.Helper()
	f, err := os.Open("testdata/captured.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []captured
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var c captured
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("testdata/captured.jsonl: %v", err)
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("no captured datagrams")
	}
	return out
}

func fields(kv ...string) []Field {
	var f []Field
	for i := 0; i+1 < len(kv); i += 2 {
		f = append(f, Field{kv[i], kv[i+1]})
	}
	return f
}

func mustParse(t *testing.T, s string) Event {
	t.Helper()
	ev, err := Parse([]byte(s))
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	return ev
}

func TestParseQuirks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     string
		number int
		want   []Field
	}{
		{"real VOLUME_START", "1795553034 3 name=necaprep;force=0", 3, fields("name", "necaprep", "force", "0")},
		{"value with =", "1 2 name=v;opt=a=b==c", 2, fields("name", "v", "opt", "a=b==c")},
		{"real AFR leading-space key", "1795553034 108 client-pid=-6; subvol=necaprep-replicate-0", 108,
			fields("client-pid", "-6", "subvol", "necaprep-replicate-0")},
		{"spaces around keys", "1 2 \tname \t=v ; x= y ", 2, fields("name", "v ", "x", " y ")},
		{"empty values", "1 2 a=;b=", 2, fields("a", "", "b", "")},
		{"trailing ;", "1 3 name=v;force=0;", 3, fields("name", "v", "force", "0")},
		{"trailing ; and blanks", "1 3 name=v; ;  ", 3, fields("name", "v")},
		{"empty piece continues value", "1 2 a=1;;b=2", 2, fields("a", "1;", "b", "2")},
		{"piece without = continues value", "1 2 a=x;y;b=2", 2, fields("a", "x;y", "b", "2")},
		{"empty key", "1 2 a=x;=y; =z", 2, fields("a", "x", "", "y", "", "z")},
		{"leading empty pieces", "1 2 ;;a=1", 2, fields("a", "1")},
		{"no fields", "1 4", 4, nil},
		{"no fields, trailing space", "1 4 ", 4, nil},
		{"only blanks", "1 4    ", 4, nil},
		{"only separators", "1 4 ;;", 4, nil},
		{"real BITROT_ENABLE (null)", "1795553115 19 (null)", 19, nil},
		{"duplicate keys kept", "1 2 name=a;name=b", 2, fields("name", "a", "name", "b")},
		{"real trailing space kept", "1795553031 2 name=r;bricks= h:/b1 h:/b2 ", 2, fields("name", "r", "bricks", " h:/b1 h:/b2 ")},
		{"CRLF dropped", "1 2 name=x\r\n", 2, fields("name", "x")},
		{"trailing NULs dropped", "1 2 name=x\x00\x00", 2, fields("name", "x")},
		{"leading whitespace", " \t\n1 2 name=x", 2, fields("name", "x")},
		{"several spaces before number", "1   2 name=x", 2, fields("name", "x")},
		{"several spaces before pairs", "1 2   name=x", 2, fields("name", "x")},
		{"spaces in values", "1795553156 71 peer=h;uuid=u;state=Peer in Cluster", 71, fields("peer", "h", "uuid", "u", "state", "Peer in Cluster")},
		{"capital key kept", "1795553102 10 Volume=v;source-brick=h:/a", 10, fields("Volume", "v", "source-brick", "h:/a")},
		{"non-ASCII", "1 6 name=v;options=,user.note,héllo wörld", 6, fields("name", "v", "option.user.note", "héllo wörld")},
		{"invalid UTF-8", "1 2 na\xffme=v\xc3;x=\xed\xa0\x80", 2, fields("na\uFFFDme", "v\uFFFD", "x", "\uFFFD")},
		{"NUL inside", "1 2 name=a\x00b", 2, fields("name", "a\uFFFDb")},
		{"leading zeros", "0001 0006 name=v;options=,a,b", 6, fields("name", "v", "option.a", "b")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := mustParse(t, tc.in)
			if ev.Number != tc.number {
				t.Errorf("Number = %d, want %d", ev.Number, tc.number)
			}
			if want, _ := Name(tc.number); ev.Name != want {
				t.Errorf("Name = %q, want %q", ev.Name, want)
			}
			if !slices.Equal(ev.Fields, tc.want) {
				t.Errorf("Fields = %q\nwant     %q", ev.Fields, tc.want)
			}
			for _, f := range ev.Fields {
				if !utf8.ValidString(f.Key+f.Value) || strings.ContainsRune(f.Key+f.Value, 0) {
					t.Errorf("field %q is not a valid D-Bus string", f)
				}
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	ev := mustParse(t, "1795553034 3 name=v")
	if want := time.Unix(1795553034, 0); !ev.Time.Equal(want) {
		t.Errorf("Time = %v, want %v", ev.Time, want)
	}
	if ev.Time.Unix() != 1795553034 {
		t.Errorf("Time.Unix() = %d", ev.Time.Unix())
	}
	ev = mustParse(t, "0 3 name=v")
	if ev.Time.Unix() != 0 {
		t.Errorf("Time.Unix() = %d, want 0", ev.Time.Unix())
	}
}

func TestParseErrors(t *testing.T) {
	huge := "1 2 name=" + strings.Repeat("x", MaxDatagramSize)
	for _, tc := range []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", ErrMalformed},
		{"blank", " \r\n", ErrMalformed},
		{"only timestamp", "1795553034", ErrMalformed},
		{"only timestamp and space", "1795553034 ", ErrMalformed},
		{"non-numeric timestamp", "abc 2 name=x", ErrMalformed},
		{"signed timestamp", "+5 2 name=x", ErrMalformed},
		{"timestamp with underscore", "1_0 2 name=x", ErrMalformed},
		{"negative timestamp", "-1 2 name=x", ErrMalformed},
		{"timestamp overflow", "99999999999999999999 2 name=x", ErrMalformed},
		{"tab separator", "1\t2 name=x", ErrMalformed},
		{"non-numeric number", "1 VOLUME_SET name=x", ErrMalformed},
		{"negative number", "1 -1 name=x", ErrMalformed},
		{"number overflow", "1 99999999999999999999 name=x", ErrMalformed},
		{"keyless first piece", "1 2 garbage", ErrMalformed},
		{"keyless first piece then pair", "1 2 garbage;name=x", ErrMalformed},
		{"larger than a datagram", huge, ErrMalformed},
		{"unknown number", "1 142 name=x", ErrUnknownEvent},
		{"large unknown number", "1 99999 name=x", ErrUnknownEvent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Parse(%.40q) error = %v, want %v", tc.in, err, tc.want)
			}
			other := ErrUnknownEvent
			if tc.want == ErrUnknownEvent {
				other = ErrMalformed
			}
			if errors.Is(err, other) {
				t.Errorf("error %v is also %v", err, other)
			}
			if len(err.Error()) > 300 {
				t.Errorf("error message is %d bytes long", len(err.Error()))
			}
		})
	}
}

func TestParseUnknownKeepsWhatWasRead(t *testing.T) {
	ev, err := Parse([]byte("1795553034 142 volume=v; subvol=s"))
	if !errors.Is(err, ErrUnknownEvent) {
		t.Fatalf("error = %v", err)
	}
	if ev.Number != 142 || ev.Name != "" || ev.Time.Unix() != 1795553034 {
		t.Errorf("got %d %q %v", ev.Number, ev.Name, ev.Time)
	}
	if want := fields("volume", "v", "subvol", "s"); !slices.Equal(ev.Fields, want) {
		t.Errorf("Fields = %q, want %q", ev.Fields, want)
	}
}

func TestParseHugeDatagram(t *testing.T) {
	prefix := "1795553034 6 name=v;options=,user.note,"
	in := prefix + strings.Repeat("é", (MaxDatagramSize-len(prefix))/2)
	in += strings.Repeat("x", MaxDatagramSize-len(in))
	ev := mustParse(t, in)
	if len(ev.Fields) != 2 || len(ev.Fields[1].Value) != MaxDatagramSize-len(prefix) {
		t.Errorf("fields: %d, last value %d bytes", len(ev.Fields), len(ev.Fields[len(ev.Fields)-1].Value))
	}
	many := "1 2 " + strings.Repeat("k=v;", (MaxDatagramSize-4)/4)
	ev = mustParse(t, many)
	if len(ev.Fields) != (MaxDatagramSize-4)/4 {
		t.Errorf("%d fields", len(ev.Fields))
	}
	semis := "1 2 k=" + strings.Repeat(";", MaxDatagramSize-6)
	ev = mustParse(t, semis)
	if !slices.Equal(ev.Fields, fields("k", "")) {
		t.Errorf("only separators after k=: %d fields", len(ev.Fields))
	}
}

func TestParseVolumeSetOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []Field
	}{
		{"real, one option", "1795553039 6 name=necaprep;options=,performance.readdir-ahead,off",
			fields("name", "necaprep", "option.performance.readdir-ahead", "off")},
		{"real, two options", "1795553041 6 name=necaprep;options=,performance.readdir-ahead,off,cluster.self-heal-daemon,on",
			fields("name", "necaprep", "option.performance.readdir-ahead", "off", "option.cluster.self-heal-daemon", "on")},
		{"real, short key", "1795553043 6 name=necaprep;options=,readdir-ahead,on",
			fields("name", "necaprep", "option.readdir-ahead", "on")},
		{"real, value with comma paired as glustereventsd does", "1795553042 6 name=necaprep;options=,auth.allow,127.0.0.1,127.1.250.1",
			fields("name", "necaprep", "option.auth.allow", "127.0.0.1", "option.127.1.250.1", "")},
		{"real, value with = and ;", "1795553044 6 name=necaprep;options=,user.note,a=b;c d",
			fields("name", "necaprep", "option.user.note", "a=b;c d")},
		{"options first, in place", "1 6 options=,a,1;name=v", fields("option.a", "1", "name", "v")},
		{"no leading comma", "1 6 name=v;options=a,1", fields("name", "v", "option.a", "1")},
		{"surrounding commas", "1 6 name=v;options=,,a,1,,", fields("name", "v", "option.a", "1")},
		{"empty options", "1 6 name=v;options=", fields("name", "v")},
		{"only commas", "1 6 name=v;options=,,,", fields("name", "v")},
		{"no options", "1 6 name=v", fields("name", "v")},
		{"two options fields", "1 6 options=,a,1;options=,b,2", fields("option.a", "1", "option.b", "2")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := mustParse(t, tc.in)
			if !slices.Equal(ev.Fields, tc.want) {
				t.Errorf("Fields = %q\nwant     %q", ev.Fields, tc.want)
			}
		})
	}
	// Other events keep an "options" field as sent.
	ev := mustParse(t, "1 7 name=v;options=,a,1")
	if !slices.Equal(ev.Fields, fields("name", "v", "options", ",a,1")) {
		t.Errorf("VOLUME_RESET fields = %q", ev.Fields)
	}
}

func TestParseVolumeReset(t *testing.T) {
	// What GlusterFS 10.3's CLI sends: no conversion needed.
	for in, want := range map[string][]Field{
		"1795553045 7 name=necaprep;option=performance.readdir-ahead": fields("name", "necaprep", "option", "performance.readdir-ahead"),
		"1795553046 7 name=necaprep;option=all":                       fields("name", "necaprep", "option", "all"),
	} {
		if ev := mustParse(t, in); ev.Name != "VOLUME_RESET" || !slices.Equal(ev.Fields, want) {
			t.Errorf("Parse(%q) = %s %q", in, ev.Name, ev.Fields)
		}
	}
}

func TestEventGet(t *testing.T) {
	ev := mustParse(t, "1 2 name=a;name=b;x=")
	if v, ok := ev.Get("name"); !ok || v != "a" {
		t.Errorf("Get(name) = %q, %v", v, ok)
	}
	if v, ok := ev.Get("x"); !ok || v != "" {
		t.Errorf("Get(x) = %q, %v", v, ok)
	}
	if _, ok := ev.Get("y"); ok {
		t.Error("Get(y) found")
	}
}

// TestParseCaptured parses every datagram captured from real emitters.
func TestParseCaptured(t *testing.T) {
	seen := map[string]int{}
	for _, c := range loadCaptured(t) {
		ev, err := Parse([]byte(c.Datagram))
		if err != nil {
			t.Errorf("Parse(%q): %v", c.Datagram, err)
			continue
		}
		seen[ev.Name]++
		if len(ev.Fields) == 0 && ev.Number != evBitrotEnable && ev.Number != evBitrotDisable {
			t.Errorf("%q: no fields", c.Datagram)
		}
		for _, f := range ev.Fields {
			if f.Key == "" || strings.TrimSpace(f.Key) != f.Key {
				t.Errorf("%q: key %q", c.Datagram, f.Key)
			}
		}
		if ev.Time.Year() < 2020 {
			t.Errorf("%q: time %v", c.Datagram, ev.Time)
		}
	}
	for _, name := range []string{
		"PEER_ATTACH", "VOLUME_CREATE", "VOLUME_START", "VOLUME_STOP", "VOLUME_DELETE", "VOLUME_SET",
		"VOLUME_RESET", "BRICK_RESET_START", "BRICK_RESET_COMMIT", "BRICK_REPLACE", "BITROT_ENABLE",
		"BITROT_DISABLE", "BITROT_SCRUB_THROTTLE", "QUOTA_ENABLE", "QUOTA_DISABLE", "QUOTA_SET_USAGE_LIMIT",
		"QUOTA_REMOVE_USAGE_LIMIT", "SNAPSHOT_CREATE_FAILED", "SVC_CONNECTED", "PEER_CONNECT",
		"PEER_DISCONNECT", "BRICK_CONNECTED", "QUORUM_REGAINED", "CLIENT_CONNECT", "CLIENT_DISCONNECT",
		"AFR_QUORUM_MET", "AFR_QUORUM_FAIL", "AFR_SUBVOL_UP", "AFR_SUBVOLS_DOWN", "VOLUME_ADD_BRICK",
		"VOLUME_REMOVE_BRICK_START", "VOLUME_REMOVE_BRICK_COMMIT", "VOLUME_REMOVE_BRICK_STOP",
		"VOLUME_REMOVE_BRICK_FORCE", "VOLUME_REBALANCE_START", "VOLUME_REBALANCE_COMPLETE",
	} {
		if seen[name] == 0 {
			t.Errorf("no captured %s", name)
		}
	}
}

// TestParseCapturedDetails pins what real datagrams carry.
func TestParseCapturedDetails(t *testing.T) {
	byText := map[string]bool{}
	for _, c := range loadCaptured(t) {
		byText[c.Datagram] = true
	}
	for _, tc := range []struct {
		datagram string
		want     []Field
	}{
		{"1795553034 65 svc_name=glustershd", fields("svc_name", "glustershd")},
		{"1795553072 137 volume=necapdist", fields("volume", "necapdist")},
		{"1795553066 123 volume=necapdist;bricks=127.1.250.1:/tmp/ne-capture/bricks/d3 ",
			fields("volume", "necapdist", "bricks", "127.1.250.1:/tmp/ne-capture/bricks/d3 ")},
		{"1795553104 8 Volume=necaprep;source-brick=127.1.250.1:/tmp/ne-capture/bricks/r2",
			fields("Volume", "necaprep", "source-brick", "127.1.250.1:/tmp/ne-capture/bricks/r2")},
		{"1795553118 36 snapshot_name=necapsnap;volume_name=necaprep;error=LVM commands not found, snapshot functionality is disabled",
			fields("snapshot_name", "necapsnap", "volume_name", "necaprep", "error", "LVM commands not found, snapshot functionality is disabled")},
		{"1795553157 71 peer=127.1.250.77;uuid=00000000-0000-0000-0000-000000000000;state=Establishing Connection",
			fields("peer", "127.1.250.77", "uuid", "00000000-0000-0000-0000-000000000000", "state", "Establishing Connection")},
		{"1795553132 6 name=necaprep;options=,user.note,héllo wörld", fields("name", "necaprep", "option.user.note", "héllo wörld")},
		{"1795553147 107 client-pid=-6; subvol=necaprep-replicate-0", fields("client-pid", "-6", "subvol", "necaprep-replicate-0")},
	} {
		if !byText[tc.datagram] {
			t.Errorf("%q is not among the captured datagrams", tc.datagram)
			continue
		}
		if ev := mustParse(t, tc.datagram); !slices.Equal(ev.Fields, tc.want) {
			t.Errorf("Parse(%q).Fields = %q, want %q", tc.datagram, ev.Fields, tc.want)
		}
	}
	// CLIENT_CONNECT: the client_uid value is itself structured; kept whole.
	for text := range byText {
		if !strings.Contains(text, " 97 ") {
			continue
		}
		ev := mustParse(t, text)
		keys := make([]string, len(ev.Fields))
		for i, f := range ev.Fields {
			keys[i] = f.Key
		}
		want := []string{"client_uid", "client_identifier", "server_identifier", "brick_path", "subdir_mount"}
		if !slices.Equal(keys, want) {
			t.Errorf("CLIENT_CONNECT keys %q, want %q", keys, want)
		}
		if v, _ := ev.Get("subdir_mount"); v != "(null)" {
			t.Errorf("subdir_mount = %q", v)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, c := range loadCaptured(f) {
		f.Add([]byte(c.Datagram))
	}
	for _, s := range []string{"", "1", "1 2", "1 2 ", "1 2 (null)", "1 6 options=,a", "1 2 a=b;;c", "1 2 \xff=\x00",
		"1 -1 a=b", "1 6 options=,,", "1 3 force=YES;ssh-port= 0_22 "} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := Parse(b)
		if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownEvent) {
			t.Fatalf("untyped error %v", err)
		}
		if err == nil {
			if _, ok := Name(ev.Number); !ok || ev.Name == "" {
				t.Fatalf("accepted unknown number %d", ev.Number)
			}
		}
		for _, fl := range ev.Fields {
			if !utf8.ValidString(fl.Key) || !utf8.ValidString(fl.Value) ||
				strings.ContainsRune(fl.Key+fl.Value, 0) {
				t.Fatalf("field %q is not a valid D-Bus string", fl)
			}
		}
		// The other views of an event never panic either.
		ev.Trigger()
		m, merr := ev.Message()
		if merr != nil && !errors.Is(merr, ErrNotPublished) {
			t.Fatalf("Message: untyped error %v", merr)
		}
		if j := m.JSON(); m != nil && !json.Valid(j) {
			t.Fatalf("Message JSON %q is not valid", j)
		}
		if p, _ := ev.Payload("n"); p != nil && !json.Valid(p) {
			t.Fatalf("payload %q is not valid JSON", p)
		}
	})
}
