package webhook

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/glusterbus/glusterbus/internal/events"
	"github.com/glusterbus/glusterbus/internal/journal"
	"github.com/glusterbus/glusterbus/internal/nativeevents"
	"github.com/glusterbus/glusterbus/internal/state"
)

const testNode = "8d1a4f3e-1b7c-4b0e-9a51-3c2d1e0f9a77"

// pyRef runs testdata/pyref.py in mode on inputs (each marshalled to one
// JSON line) and returns its answers.
func pyRef(t *testing.T, mode string, inputs []any) []*string {
	t.Helper()
	py := glusterPython(t)
	var in bytes.Buffer
	for _, x := range inputs {
		b, err := json.Marshal(x)
		if err != nil {
			t.Fatal(err)
		}
		in.Write(append(b, '\n'))
	}
	cmd := exec.Command(py, "testdata/pyref.py", mode, testNode)
	cmd.Stdin = &in
	cmd.Env = append(os.Environ(), "GFEVENTS_DIR="+gfeventsDir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pyref.py %s: %v: %s", mode, err, stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(inputs) {
		t.Fatalf("pyref.py %s: %d answers for %d inputs: %s", mode, len(lines), len(inputs), stderr.String())
	}
	res := make([]*string, len(lines))
	for i, l := range lines {
		if err := json.Unmarshal([]byte(l), &res[i]); err != nil {
			t.Fatalf("answer %q: %v", l, err)
		}
	}
	return res
}

// journaled returns the events as the daemon journals them and reads them
// back.
func journaled(t *testing.T, evs []journal.Event) []journal.Event {
	t.Helper()
	j := openJournal(t, "")
	defer j.Close()
	if _, err := j.Append(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
	out, err := j.Range(0, len(evs)+1)
	if err != nil || len(out) != len(evs) {
		t.Fatalf("Range: %d events, %v", len(out), err)
	}
	return out
}

// nativeDatagrams are real datagrams of GlusterFS 10.3 (nativeevents'
// captures) and hand-made ones with what the encodings must get right.
func nativeDatagrams(t *testing.T) []string {
	t.Helper()
	ds := []string{
		"1700000001 6 name=gv0;options=,performance.readdir-ahead,off,cluster.self-heal-daemon,on",
		"1700000002 6 name=gv0;options=",
		"1700000003 2 name=gv0;bricks= h1:/b1 h2:/b2 ",
		"1700000004 3 name=gv0;force=yes",
		"1700000005 3 name=gv0;force=0",
		"1700000006 109 master=m;slave=h::s;push-pem=on;no-verify=TRUE;ssh-port=022;force=1",
		"1700000007 109 master=m;slave=h::s;ssh-port=abc",
		"1700000008 77 peer=h\u00e9;volume=v\U0001F600;brick=/b\"q\\\t",
		"1700000009 6 name=gv0;options=,user.note,a;b c",
		"1700000010 108 client-pid=-6;subvol=gv0-replicate-0;type=gfid",
	}
	f, err := os.Open("../nativeevents/testdata/captured.jsonl")
	if err != nil {
		t.Logf("no captured datagrams: %v", err)
		return ds
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var c struct{ Datagram string }
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		ds = append(ds, c.Datagram)
	}
	return ds
}

// nativeJournalEvent is what the daemon journals for a datagram.
func nativeJournalEvent(t *testing.T, datagram string) (journal.Event, bool) {
	ev, err := nativeevents.Parse([]byte(datagram))
	if err != nil {
		return journal.Event{}, false
	}
	return events.FromNative(ev, testNode, func(state.Ref) string { return "" }), true
}

// TestBodyMatchesGlustereventsd compares Body of journaled native events
// with what the installed glustereventsd's handler publishes for the same
// datagrams.
func TestBodyMatchesGlustereventsd(t *testing.T) {
	datagrams := nativeDatagrams(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		datagrams = append(datagrams, randomDatagram(rng))
	}
	var inputs []any
	var evs []journal.Event
	var kept []string
	for _, d := range datagrams {
		ev, ok := nativeJournalEvent(t, d)
		if !ok {
			continue
		}
		inputs = append(inputs, base64.StdEncoding.EncodeToString([]byte(d)))
		evs = append(evs, ev)
		kept = append(kept, d)
	}
	want := pyRef(t, "native", inputs)
	evs = journaled(t, evs)
	exact, trimmed := 0, 0
	for i, ev := range evs {
		if want[i] == nil {
			continue // glustereventsd drops it; we deliver it
		}
		got := string(Body(ev))
		if got == *want[i] {
			exact++
			continue
		}
		// The journal keeps keys trimmed (AFR sends "client-pid=-6;
		// subvol=..."), glustereventsd keeps " subvol".
		if sameWithTrimmedKeys(t, got, *want[i]) {
			trimmed++
			continue
		}
		t.Errorf("%q:\n got %s\nwant %s", kept[i], got, *want[i])
	}
	t.Logf("%d bodies identical, %d identical but for keys with surrounding blanks", exact, trimmed)
	if exact < 1000 {
		t.Errorf("only %d bodies compared equal", exact)
	}
}

// randomDatagram makes a datagram glustereventsd may well publish, out of
// pieces that exercise the encodings and VOLUME_SET's options.
func randomDatagram(rng *rand.Rand) string {
	numbers := []string{"2", "3", "6", "6", "6", "7", "77", "106", "109", "141"}
	keys := []string{"name", "force", "ssh-port", "options", "push-pem", "no-verify", "volume", "subvol", "k\u00e9"}
	vals := []string{"", "a", "1", "0", "on", "YES", "022", "-3", "x y", " ", "\t", ",", ",a,b", ",a,b,c", "a,,b", ",,", "\u00e9", "\U0001F600", "\"", "\\", "\x01", "\u2028"}
	var b strings.Builder
	num := numbers[rng.IntN(len(numbers))]
	fmt.Fprintf(&b, "%d %s ", 1700000000+rng.IntN(1000000), num)
	// The emitters send each key once, and VOLUME_SET's options last.
	used := map[string]bool{}
	used["options"] = num == "6"
	for i := range 1 + rng.IntN(5) {
		k := keys[rng.IntN(len(keys))]
		if used[k] {
			continue
		}
		used[k] = true
		if i > 0 {
			b.WriteString(";")
		}
		b.WriteString(k)
		b.WriteString("=")
		for range rng.IntN(4) {
			b.WriteString(vals[rng.IntN(len(vals))])
		}
	}
	if num == "6" {
		// As the CLI sends them: ",name,value,name,value", values
		// possibly with commas of their own (auth.allow lists).
		items := []string{"a", "1", "on", "x y", "\u00e9", "\U0001F600", "\"", "\\", "10.0.0.1,10.0.0.2", ""}
		b.WriteString(";options=,performance.x")
		for range rng.IntN(5) {
			b.WriteString(",")
			b.WriteString(items[rng.IntN(len(items))])
		}
		if rng.IntN(5) == 0 {
			b.WriteString("  ")
		}
	}
	return b.String()
}

func sameWithTrimmedKeys(t *testing.T, got, want string) bool {
	var g, w map[string]any
	if json.Unmarshal([]byte(got), &g) != nil || json.Unmarshal([]byte(want), &w) != nil {
		return false
	}
	wm, ok := w["message"].(map[string]any)
	if !ok {
		return false
	}
	trimmed := map[string]any{}
	changed := false
	for k, v := range wm {
		trimmed[strings.TrimSpace(k)] = v
		changed = changed || k != strings.TrimSpace(k)
	}
	w["message"] = trimmed
	return changed && reflect.DeepEqual(g, w)
}

// TestBodyOfDiffEvents compares Body of state-change events with what
// glustereventsd's utils.publish makes of the same name and fields.
func TestBodyOfDiffEvents(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	pieces := []string{"a", "Z", "_", ".", "é", "😀", "\"", "\\", "\n", "\t", "\x01", "\u2028", "<", "&", "=", ";", " ", "1", "\ufffd"}
	word := func() string {
		var b strings.Builder
		for range rng.IntN(6) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return b.String()
	}
	type input struct {
		Event  string      `json:"event"`
		Fields [][2]string `json:"fields"`
		TS     int64       `json:"ts"`
	}
	var inputs []any
	var evs []journal.Event
	names := []string{"VOLUME_SET", "BRICK_OFFLINE", "GLUSTERD_UP", "VOLUME_HEALTH_CHANGED"}
	for i := range 500 {
		ev := journal.Event{
			Time:   time.Unix(1700000000+int64(i), int64(rng.IntN(1e9))),
			Node:   testNode,
			Name:   names[rng.IntN(len(names))],
			Source: SourceDiff,
		}
		in := input{Event: ev.Name, TS: ev.Time.Unix(), Fields: [][2]string{}}
		for range rng.IntN(5) {
			k, v := word(), word()
			if rng.IntN(3) == 0 {
				k = "option." + k
			}
			ev.Fields = append(ev.Fields, journal.Field{Key: k, Value: v})
			in.Fields = append(in.Fields, [2]string{k, v})
		}
		inputs = append(inputs, in)
		evs = append(evs, ev)
	}
	want := pyRef(t, "publish", inputs)
	for i, ev := range journaled(t, evs) {
		if got := string(Body(ev)); want[i] == nil || got != *want[i] {
			t.Errorf("%+v:\n got %s\nwant %v", ev, got, *want[i])
		}
	}
}

func TestBodyShapes(t *testing.T) {
	ev := journal.Event{Seq: 9, Time: time.Unix(1700000000, 999999000), Name: "BRICK_OFFLINE", Source: SourceDiff,
		Fields: []journal.Field{{Key: "volume", Value: "gv0"}, {Key: "brick", Value: "h:/b"}}}
	if got, want := string(Body(ev)), `{"event": "BRICK_OFFLINE", "message": {"brick": "h:/b", "volume": "gv0"}, "nodeid": null, "ts": 1700000000}`; got != want {
		t.Errorf("diff body\n got %s\nwant %s", got, want)
	}
	ev = journal.Event{Time: time.Unix(1700000000, 0), Node: testNode, Name: "VOLUME_SET", Source: SourceNative,
		Fields: []journal.Field{{Key: "name", Value: "gv0"}, {Key: "option.a.b", Value: "on"}, {Key: "option.c", Value: "1,2"}}}
	if got, want := string(Body(ev)), `{"event": "VOLUME_SET", "message": {"name": "gv0", "options": [["a.b", "on"], ["c", "1,2"]]}, "nodeid": "`+testNode+`", "ts": 1700000000}`; got != want {
		t.Errorf("native VOLUME_SET body\n got %s\nwant %s", got, want)
	}
	// A native event of a name this GlusterFS does not know keeps the
	// generic shape.
	ev = journal.Event{Time: time.Unix(5, 0), Node: testNode, Name: "FUTURE_EVENT", Source: SourceNative, Fields: []journal.Field{{Key: "force", Value: "yes"}}}
	if got, want := string(Body(ev)), `{"event": "FUTURE_EVENT", "message": {"force": "yes"}, "nodeid": "`+testNode+`", "ts": 5}`; got != want {
		t.Errorf("unknown native body\n got %s\nwant %s", got, want)
	}
}

// TestJWTMatchesGetJWTToken compares our JWT with utils.get_jwt_token's.
func TestJWTMatchesGetJWTToken(t *testing.T) {
	type input struct {
		Secret string `json:"secret"`
		Event  string `json:"event"`
		TS     int64  `json:"ts"`
		Now    int64  `json:"now"`
	}
	ins := []input{
		{"s3cr3t", "VOLUME_SET", 1700000000, 1700000005},
		{"another secret with ünïcode", "TEST", 1, 1700000123},
		{"x", "BRICK_OFFLINE", 1800000000, 1800000000},
	}
	var inputs []any
	for _, in := range ins {
		inputs = append(inputs, in)
	}
	want := pyRef(t, "jwt", inputs)
	for i, in := range ins {
		got, err := jwtToken(in.Secret, in.Event, in.TS, time.Unix(in.Now, 0))
		if err != nil {
			t.Fatal(err)
		}
		if want[i] == nil || got != *want[i] {
			t.Errorf("%+v:\n got %s\nwant %v", in, got, *want[i])
		}
	}
}

func TestRequestHeaders(t *testing.T) {
	ev := journal.Event{Seq: 42, Time: time.Unix(1700000000, 0), Node: testNode, Name: "VOLUME_START", Source: SourceNative,
		Fields: []journal.Field{{Key: "name", Value: "gv0"}, {Key: "force", Value: "0"}}}
	p := postOf(ev)
	now := time.Unix(1700000100, 0)
	check := func(w Webhook, wantAuth func(string) error) {
		t.Helper()
		req, _, err := newRequest(context.Background(), &w, &p, now)
		if err != nil {
			t.Fatal(err)
		}
		h := req.Header
		if h.Get("Content-Type") != "application/json" || h.Get(HeaderSequence) != "42" || h.Get(HeaderSource) != "native" || req.Method != "POST" {
			t.Errorf("headers %v, method %s", h, req.Method)
		}
		if err := wantAuth(h.Get("Authorization")); err != nil {
			t.Error(err)
		}
	}
	check(Webhook{URL: "http://h/"}, func(a string) error {
		if a != "" {
			return fmt.Errorf("Authorization %q without token or secret", a)
		}
		return nil
	})
	check(Webhook{URL: "http://h/", Token: "tok"}, func(a string) error {
		if a != "Bearer tok" {
			return fmt.Errorf("Authorization %q, want Bearer tok", a)
		}
		return nil
	})
	check(Webhook{URL: "http://h/", Token: "tok", Secret: "sec"}, func(a string) error {
		raw, ok := strings.CutPrefix(a, "Bearer ")
		if !ok {
			return fmt.Errorf("Authorization %q", a)
		}
		claims := jwt.MapClaims{}
		_, err := jwt.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return []byte("sec"), nil },
			jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(func() time.Time { return now }), jwt.WithIssuer("gluster"), jwt.WithSubject("VOLUME_START"))
		if err != nil {
			return fmt.Errorf("JWT %s: %v", raw, err)
		}
		if claims["iat"] != float64(1700000000) || claims["exp"] != float64(1700000160) {
			return fmt.Errorf("claims %v", claims)
		}
		return nil
	})
}
