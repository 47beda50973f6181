package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// encodingV1 is the leading byte of every stored event value.
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
const encodingV1 = 1

var errMalformed = errors.New("journal: malformed or truncated event")

// encodeEvent appends the stored form of e (without its Seq) to buf.
func encodeEvent(buf []byte, e *Event) []byte {
	buf = append(buf, encodingV1)
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
	n := 1 + binary.MaxVarintLen64 + 4*binary.MaxVarintLen64 +
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

// decodeTime decodes only the time of a stored value, for retention.
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
	if v := d.b[0]; v != encodingV1 {
		return fmt.Errorf("journal: unknown event encoding version %d", v)
	}
	d.off = 1
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
