package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// The leading byte of every stored event value is its encoding version.
//
// Layout of version 1, after the version byte:
//
//	varint   Time as Unix microseconds
//	string   Node
//	string   Name
//	string   Source
//	string   Object
//	uvarint  number of fields, then per field: string Key, string Value
//
// where string is a uvarint byte length followed by the bytes. The sequence
// number is the key and is not repeated in the value.
//
// Version 2, written since, puts before the layout of version 1
//
//	8 bytes  when the event was journaled, as big-endian Unix microseconds
//
// at a fixed offset, so the commit can fill it in and retention can read it
// alone. Event.Time is when it happened, as its sender says, and need not
// follow the sequence; the commit time does.
const (
	encodingV1 = 1
	encodingV2 = 2
)

// stampOffset and stampLen place version 2's commit time.
const (
	stampOffset = 1
	stampLen    = 8
)

var errMalformed = errors.New("journal: malformed or truncated event")

// encodeEvent appends the stored form of e (without its Seq) to buf, with a
// zero commit time for setStamp to fill in.
func encodeEvent(buf []byte, e *Event) []byte {
	buf = append(buf, encodingV2)
	buf = append(buf, make([]byte, stampLen)...)
	buf = binary.AppendVarint(buf, e.Time.UnixMicro())
	buf = appendString(buf, e.Node)
	buf = appendString(buf, e.Name)
	buf = appendString(buf, e.Source)
	buf = appendString(buf, e.Object)
	buf = binary.AppendUvarint(buf, uint64(len(e.Fields)))
	for _, f := range e.Fields {
		buf = appendString(buf, f.Key)
		buf = appendString(buf, f.Value)
	}
	return buf
}

func encodedSize(e *Event) int {
	n := 1 + stampLen + binary.MaxVarintLen64 + 4*binary.MaxVarintLen64 +
		len(e.Node) + len(e.Name) + len(e.Source) + len(e.Object) + binary.MaxVarintLen64
	for _, f := range e.Fields {
		n += 2*binary.MaxVarintLen64 + len(f.Key) + len(f.Value)
	}
	return n
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// decodeEvent decodes a stored value. It never retains b, which may point
// into the database's memory map: the value is copied into one string that
// all the event's strings share.
func decodeEvent(b []byte) (Event, error) {
	var e Event
	d := decoder{b: b}
	if err := d.version(); err != nil {
		return e, err
	}
	d.s = string(b)
	e.Time = time.UnixMicro(d.varint()).UTC()
	e.Node = d.string()
	e.Name = d.string()
	e.Source = d.string()
	e.Object = d.string()
	n := d.uvarint()
	// Each field takes at least two bytes, which bounds the allocation by
	// the input size whatever the count claims.
	if d.err == nil && n > uint64(len(b)-d.off)/2 {
		d.err = errMalformed
	}
	if d.err == nil && n > 0 {
		e.Fields = make([]Field, n)
		for i := range e.Fields {
			e.Fields[i].Key = d.string()
			e.Fields[i].Value = d.string()
		}
	}
	if d.err != nil {
		return Event{}, d.err
	}
	if rest := len(b) - d.off; rest != 0 {
		return Event{}, fmt.Errorf("journal: %d trailing bytes after event", rest)
	}
	return e, nil
}

// setStamp records in an encoded value when it was journaled.
func setStamp(b []byte, t time.Time) {
	binary.BigEndian.PutUint64(b[stampOffset:stampOffset+stampLen], uint64(t.UnixMicro()))
}

// decodeTime decodes only the time of a stored value.
func decodeTime(b []byte) (time.Time, error) {
	d := decoder{b: b}
	if err := d.version(); err != nil {
		return time.Time{}, err
	}
	us := d.varint()
	if d.err != nil {
		return time.Time{}, d.err
	}
	return time.UnixMicro(us), nil
}

// decodeJournaled decodes only when a stored value was journaled, for
// retention. Version 1 did not record it: such an event was journaled
// before opened (the journal's Open) and, the sender's clock permitting,
// not before its own time.
func decodeJournaled(b []byte, opened time.Time) (time.Time, error) {
	if len(b) > 0 && b[0] == encodingV2 {
		if len(b) < stampOffset+stampLen {
			return time.Time{}, errMalformed
		}
		return time.UnixMicro(int64(binary.BigEndian.Uint64(b[stampOffset:]))), nil
	}
	t, err := decodeTime(b)
	if err != nil {
		return t, err
	}
	if t.After(opened) {
		t = opened
	}
	return t, nil
}

// decoder reads b from off and records the first error; once err is set
// every read returns a zero value. Strings are cut from s, a copy of b.
type decoder struct {
	b   []byte
	s   string
	off int
	err error
}

func (d *decoder) version() error {
	if len(d.b) == 0 {
		return errMalformed
	}
	switch v := d.b[0]; v {
	case encodingV1:
		d.off = 1
	case encodingV2:
		if len(d.b) < stampOffset+stampLen {
			return errMalformed
		}
		d.off = stampOffset + stampLen
	default:
		return fmt.Errorf("journal: unknown event encoding version %d", v)
	}
	return nil
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		d.err = errMalformed
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.err = errMalformed
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)-d.off) {
		d.err = errMalformed
		return ""
	}
	s := d.s[d.off : d.off+int(n)]
	d.off += int(n)
	return s
}
