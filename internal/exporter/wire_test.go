package exporter

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"math"
	"reflect"
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/state"
)

// godbusBody is the body of a message godbus encodes with body (in
// little-endian, as the exporter writes).
func godbusBody(t *testing.T, body ...any) []byte {
	t.Helper()
	msg := &dbus.Message{Type: dbus.TypeMethodReply, Headers: map[dbus.HeaderField]dbus.Variant{
		dbus.FieldReplySerial: dbus.MakeVariant(uint32(1)),
		dbus.FieldSignature:   dbus.MakeVariant(dbus.SignatureOf(body...)),
	}, Body: body}
	var buf bytes.Buffer
	if err := msg.EncodeTo(&buf, binary.LittleEndian); err != nil {
		t.Fatal(err)
	}
	n := int(binary.LittleEndian.Uint32(buf.Bytes()[4:]))
	return buf.Bytes()[buf.Len()-n:]
}

type wireStruct struct {
	Name   string
	Count  uint64
	Signed int64
	Flag   bool
	hidden string
	Skip   string `dbus:"-"`
	Labels map[string]string
}

// TestValueBytesAsGodbus: each kind of value the exporter can hold is
// written byte for byte as godbus writes it, at every alignment.
func TestValueBytesAsGodbus(t *testing.T) {
	values := []any{
		"", "volume", dbus.ObjectPath("/org/storaged/Storaged/GlusterFS/volumes/v"), true, false,
		uint64(math.MaxUint64), int64(-7), uint32(49152), int32(-3), 2.5, byte(9), int16(-2), uint16(3),
		[]string{}, []string{"a", "bc"}, []dbus.ObjectPath{}, []dbus.ObjectPath{"/a", "/b/c"},
		map[string]string{"nfs.disable": "on"}, map[string]string{},
		dbus.MakeVariant("x"), dbus.MakeVariant(uint64(5)), dbus.MakeVariant([]string{"p"}),
		map[string]dbus.Variant{"limit": dbus.MakeVariant(uint32(2))},
		[]uint64{1, 2}, []int64{}, []byte("raw"), dbus.Signature{},
		wireStruct{Name: "n", Count: 3, Signed: -1, Flag: true, hidden: "h", Skip: "s", Labels: map[string]string{"k": "v"}},
		[]wireStruct{{Name: "a"}, {Name: "b", Count: 1}},
		[]state.WebhookState{{URL: "http://x", State: "ok", Cursor: 1, LastSeq: 2, Lag: 1, Delivered: 3, LastErrorUsec: -1}},
		[]state.Task{{ID: "1", Type: "Rebalance", Status: "in progress", Figures: map[string]string{"files": "3"}}},
		[]state.Task{},
		map[uint32]string{7: "seven"},
		[][]string{{"a"}, {}},
		[]any{"s", uint32(1)},
	}
	for _, v := range values {
		for lead := range 8 {
			body := make([]any, 0, lead+1)
			for range lead {
				body = append(body, byte(0xff))
			}
			want := godbusBody(t, append(body, v)...)
			got := bytes.Repeat([]byte{0xff}, lead)
			got, err := appendWireValue(got, v, 0)
			if err != nil {
				t.Fatalf("%T %v: %v", v, v, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%T %v after %d bytes:\n got % x\nwant % x", v, v, lead, got, want)
			}
		}
	}
}

func TestValueRefusedAsGodbus(t *testing.T) {
	for _, v := range []any{"bad\xff", "nul\x00", dbus.ObjectPath("not/a/path"), []string{"ok", "\xfe"},
		map[string]string{"k": "\x00"}, struct{ C chan int }{}} {
		if _, err := appendWireValue(nil, v, 0); err == nil {
			t.Errorf("%T %q: no error", v, v)
		}
		msg := &dbus.Message{Type: dbus.TypeSignal, Headers: map[dbus.HeaderField]dbus.Variant{
			dbus.FieldPath: dbus.MakeVariant(dbus.ObjectPath("/")), dbus.FieldInterface: dbus.MakeVariant("a.b"),
			dbus.FieldMember: dbus.MakeVariant("C")}, Body: []any{v}}
		if err := msg.EncodeTo(io.Discard, binary.LittleEndian); err == nil {
			t.Errorf("%T %q: godbus encodes it", v, v)
		}
	}
}

func newTestExporter() *Exporter {
	return New(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// TestEntryBytes: an object's entry, behind the array's length, is what
// godbus writes for a reply of that one object.
func TestEntryBytes(t *testing.T) {
	exp := newTestExporter()
	exp.Apply([]state.Change{{Type: state.Added, Ref: state.Ref{Kind: state.KindVolume, Key: "v 1"},
		Props: []state.Property{{Name: "Options", Value: map[string]string{"nfs.disable": "on"}}}}})
	path := Path(state.Ref{Kind: state.KindVolume, Key: "v 1"})
	want := godbusBody(t, map[dbus.ObjectPath]map[string]map[string]dbus.Variant{
		path: {VolumeInterface: {"Options": dbus.MakeVariantWithSignature(map[string]string{"nfs.disable": "on"}, dbus.ParseSignatureMust("a{ss}"))}}})
	pieces, n, err := exp.managedBody()
	if err != nil {
		t.Fatal(err)
	}
	got := bytes.Join(pieces[1:], nil)
	if n != len(got) || !bytes.Equal(got, want) {
		t.Fatalf("body of %d bytes:\n got % x\nwant % x", n, got, want)
	}
	// No objects: the array's length and its padding.
	exp.Apply([]state.Change{{Type: state.Removed, Ref: state.Ref{Kind: state.KindVolume, Key: "v 1"}}})
	want = godbusBody(t, map[dbus.ObjectPath]map[string]map[string]dbus.Variant{})
	pieces, n, _ = exp.managedBody()
	if got := bytes.Join(pieces[1:], nil); n != len(got) || !bytes.Equal(got, want) {
		t.Fatalf("empty body of %d bytes:\n got % x\nwant % x", n, got, want)
	}
}

// encodedReplyBytes is the whole reply message as the exporter writes it.
func encodedReplyBytes(t *testing.T, exp *Exporter, serial, replySerial uint32, dest string) []byte {
	t.Helper()
	exp.mu.RLock()
	pieces, n, err := exp.managedBody()
	exp.mu.RUnlock()
	if err != nil {
		t.Fatal(err)
	}
	if got := len(bytes.Join(pieces[1:], nil)); got != n {
		t.Fatalf("a body of %d bytes declared as %d", got, n)
	}
	header, err := appendReplyHeader(nil, serial, replySerial, dest, managedObjectsSignature, n)
	if err != nil {
		t.Fatal(err)
	}
	pieces[0] = header
	return bytes.Join(pieces, nil)
}

// godbusDecoded is what a godbus client decodes from a reply godbus encodes
// with body.
func godbusDecoded(t *testing.T, body any) *dbus.Message {
	t.Helper()
	msg := &dbus.Message{Type: dbus.TypeMethodReply, Headers: map[dbus.HeaderField]dbus.Variant{
		dbus.FieldReplySerial: dbus.MakeVariant(uint32(1)),
		dbus.FieldSignature:   dbus.MakeVariant(dbus.SignatureOf(body)),
	}, Body: []any{body}}
	var buf bytes.Buffer
	if err := msg.EncodeTo(&buf, binary.LittleEndian); err != nil {
		t.Fatal(err)
	}
	out, err := dbus.DecodeMessage(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestReplyDecodesAsGodbus: the encoded reply decodes, through godbus, to
// what godbus's own encoding of the map of maps decodes to, through a
// first read, changes and removals.
func TestReplyDecodesAsGodbus(t *testing.T) {
	exp := newTestExporter()
	m := state.NewModel(exp)
	check := func(step string) {
		t.Helper()
		raw := encodedReplyBytes(t, exp, 42, 7, ":1.99")
		got, err := dbus.DecodeMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if got.Serial() != 42 || got.Type != dbus.TypeMethodReply || got.Flags != 0 ||
			got.Headers[dbus.FieldReplySerial].Value() != uint32(7) ||
			got.Headers[dbus.FieldDestination].Value() != ":1.99" ||
			got.Headers[dbus.FieldSignature].Value() != dbus.ParseSignatureMust(managedObjectsSignature) {
			t.Fatalf("%s: header %v, serial %d", step, got.Headers, got.Serial())
		}
		exp.mu.RLock()
		want := godbusDecoded(t, exp.managedObjectsMap())
		objects := len(exp.objects)
		exp.mu.RUnlock()
		if !reflect.DeepEqual(got.Body, want.Body) {
			t.Fatalf("%s: the reply decodes to\n%v\nwant\n%v", step, got.Body, want.Body)
		}
		if n := len(got.Body[0].(map[dbus.ObjectPath]map[string]map[string]dbus.Variant)); n != objects {
			t.Fatalf("%s: %d objects, want %d", step, n, objects)
		}
	}
	check("empty")
	snap := benchSnapshot(40)
	snap.Service.Webhooks = []state.WebhookState{{URL: "https://hook", State: "ok", Delivered: 3, LastErrorUsec: -5}}
	snap.Volumes["vol00003"].Tasks = []state.Task{{ID: "t", Type: "Rebalance", Status: "in progress", Figures: map[string]string{"files": "1", "size": "2"}}}
	addQuotaAndGeoRep(snap)
	m.SetAll(snap)
	check("first read")
	v := benchVolume(7)
	v.Options["performance.readdir-ahead"] = "off"
	v.Bricks[1].Online = false
	m.SetVolume(v.Name, v)
	check("a volume changed")
	// Changed, then removed before the next call.
	v = benchVolume(9)
	v.Status = "Stopped"
	m.SetVolume(v.Name, v)
	m.SetVolume(v.Name, nil)
	check("a volume changed and removed")
	for i := range 10 {
		m.SetVolume(benchVolume(i*3).Name, nil)
	}
	check("volumes removed")
	m.SetVolume("new volume", volume("new volume", true, false))
	check("a volume added")
	m.SetAll(state.NewSnapshot())
	check("all removed")
}

// TestUnencodableValue: an object with a value D-Bus cannot carry makes
// GetManagedObjects fail as godbus makes it fail, until the value changes.
func TestUnencodableValue(t *testing.T) {
	f := newFixture(t)
	f.model.SetAll(benchSnapshot(3))
	ref := state.Ref{Kind: state.KindVolume, Key: "vol00001"}
	f.exp.Apply([]state.Change{{Type: state.Modified, Ref: ref, Props: []state.Property{{Name: "Status", Value: "bad\xff"}}}})
	err := f.client.Object(BusName, RootPath).Call(objectManagerInterface+".GetManagedObjects", 0).Err
	if err == nil {
		t.Fatal("GetManagedObjects succeeded with an invalid string")
	}
	f.exp.Apply([]state.Change{{Type: state.Modified, Ref: ref, Props: []state.Property{{Name: "Status", Value: "Started"}}}})
	if got := f.managed(t); len(got) != 2+3*4 {
		t.Fatalf("%d objects, want %d", len(got), 2+3*4)
	}
}

func TestValidPathAsGodbus(t *testing.T) {
	for _, p := range []string{"/", "", "/a", "/a/b_1/C", "a", "/a/", "//", "/a//b", "/a-b", "/a.b", "/é", "/a/b/", "/_"} {
		if got, want := validPath(p), dbus.ObjectPath(p).IsValid(); got != want {
			t.Errorf("validPath(%q) = %v, godbus says %v", p, got, want)
		}
	}
}

// TestStaleEntriesBounded: objects added and removed with no call between
// are not kept for an encoding that will never come.
func TestStaleEntriesBounded(t *testing.T) {
	exp := newTestExporter()
	added := fullChanges(20)
	removed := removals(added)
	for range 50 {
		exp.Apply(added)
		exp.Apply(removed)
	}
	if n := len(exp.stale); n > 2*len(added)+64 {
		t.Fatalf("%d stale entries kept for %d objects at most", n, len(added))
	}
	exp.Apply(added)
	if _, _, err := exp.managedBody(); err != nil {
		t.Fatal(err)
	}
	if len(exp.stale) != 0 {
		t.Fatalf("%d stale entries after a call", len(exp.stale))
	}
}

// addQuotaAndGeoRep gives a benchSnapshot of at least 3 volumes quota
// limits and a geo-replication session, for the value types they bring.
func addQuotaAndGeoRep(snap *state.Snapshot) {
	snap.Volumes["vol00001"].Options["features.quota"] = "on"
	snap.Volumes["vol00001"].QuotaLimits = []state.QuotaLimit{{Path: "/a", HardLimit: 10 << 20, SoftLimit: 8 << 20, Used: 9 << 20, Available: 1 << 20, SoftExceeded: true}}
	snap.GeoReps = map[string]*state.GeoRepSession{state.GeoRepKey("vol00002", "geo@h2::dr"): {
		PrimaryVolume: "vol00002", Secondary: "geo@h2::dr", SecondaryHost: "h2", SecondaryVolume: "dr", SecondaryUser: "geo",
		Workers: []state.GeoRepWorker{{PrimaryNode: "n1", PrimaryNodeUUID: "u1", PrimaryBrick: "/b", SecondaryNode: "h2",
			Status: "Faulty", LastSynced: 1700000000000000, Entry: -1, Data: -1, Meta: -1, Failures: -1}},
		CheckpointTime: 1700000000000000}}
}
