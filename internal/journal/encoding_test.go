package journal

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestEncodingRoundTrip(t *testing.T) {
	for _, e := range []Event{
		{},
		{Time: time.UnixMicro(0)},
		{Time: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)},
		{Time: time.Date(2999, 12, 31, 23, 59, 59, 999999000, time.UTC), Node: "n", Name: "BRICK_OFFLINE",
			Source: "diff", Object: "/org/gluster/Brick/x", Fields: []Field{{"", ""}, {"k", strings.Repeat("v", 300)}}},
		testEvent(42),
	} {
		b := encodeEvent(nil, &e)
		if len(b) > encodedSize(&e) {
			t.Errorf("encoded %d bytes, size estimate %d", len(b), encodedSize(&e))
		}
		got, err := decodeEvent(b)
		if err != nil {
			t.Fatalf("decode %+v: %v", e, err)
		}
		want := e
		want.Time = e.Time.UTC()
		if e.Time.IsZero() {
			// The zero time is stored as its µs count like any other.
			want.Time = time.UnixMicro(e.Time.UnixMicro()).UTC()
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
		}
		if tm, err := decodeTime(b); err != nil || !tm.Equal(want.Time) {
			t.Errorf("decodeTime = %v, %v", tm, err)
		}
		stamp := time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)
		setStamp(b, stamp)
		if tm, err := decodeJournaled(b, time.Now()); err != nil || !tm.Equal(stamp) {
			t.Errorf("decodeJournaled = %v, %v", tm, err)
		}
		if again, err := decodeEvent(b); err != nil || !reflect.DeepEqual(again, got) {
			t.Errorf("the commit time changed the event: %+v, %v", again, err)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	good := encodeEvent(nil, &Event{Name: "X", Fields: []Field{{"a", "b"}}})
	cases := map[string][]byte{
		"empty":           nil,
		"unknown version": append([]byte{3}, good[1:]...),
		"version zero":    append([]byte{0}, good[1:]...),
		"trailing bytes":  append(append([]byte(nil), good...), 0),
		"huge field count": {encodingV1, 0, 0, 0, 0, 0,
			0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
		"huge string": {encodingV1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
	}
	for i := 1; i < len(good); i++ {
		cases["truncated at "+string(rune('0'+i%10))+"/"+string(rune('a'+i))] = good[:i]
	}
	for name, b := range cases {
		if _, err := decodeEvent(b); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
	if _, err := decodeTime([]byte{7, 0}); err == nil {
		t.Error("decodeTime accepted an unknown version")
	}
	if _, err := decodeJournaled([]byte{encodingV2, 0, 0}, time.Now()); err == nil {
		t.Error("decodeJournaled accepted a truncated commit time")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{encodingV1})
	f.Add([]byte{2, 0, 0, 0, 0, 0, 0})
	for i := range 3 {
		e := testEvent(i)
		f.Add(encodeEvent(nil, &e))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEvent(b)
		if err != nil {
			return
		}
		// Whatever decodes must survive a round trip unchanged.
		again, err := decodeEvent(encodeEvent(nil, &e))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(e, again) {
			t.Fatalf("round trip changed event:\n%+v\n%+v", e, again)
		}
		if _, err := decodeTime(b); err != nil {
			t.Fatalf("decodeTime failed on a decodable value: %v", err)
		}
		if _, err := decodeJournaled(b, time.Now()); err != nil {
			t.Fatalf("decodeJournaled failed on a decodable value: %v", err)
		}
	})
}
