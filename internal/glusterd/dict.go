package glusterd

import (
	"encoding/binary"
	"slices"
	"strconv"
)

// A GlusterFS dict on the wire (libglusterfs dict_serialize): a big-endian
// count, then for each pair the key's length (without its NUL), the value's
// length, the key, a NUL and the value. glusterd sends every value as a
// NUL-terminated string, numbers included ("2").

// Dict is a decoded dict: keys to values, the values' terminating NUL
// removed.
type Dict map[string]string

// pairHeader is the bytes of one pair before its key.
const pairHeader = 8

// encodeDict serializes d, keys sorted so that a call is always the same
// bytes.
func encodeDict(d Dict) []byte {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b := binary.BigEndian.AppendUint32(nil, uint32(len(keys)))
	for _, k := range keys {
		v := d[k]
		b = binary.BigEndian.AppendUint32(b, uint32(len(k)))
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)+1))
		b = append(b, k...)
		b = append(b, 0)
		b = append(b, v...)
		b = append(b, 0)
	}
	return b
}

// decodeDict parses a serialized dict. An empty buffer is an empty dict
// (glusterd sends none when it has nothing to say). Counts and lengths are
// checked against the bytes present before anything is allocated for them.
func decodeDict(b []byte) (Dict, error) { return decodeDictValues(b, true, nil) }

// decodeDictValues is decodeDict; with stripNUL false values are kept
// whole, as binary values (quota's xattrs) need. Keys and values are made
// with shared (see sharedStrings), which may be nil.
func decodeDictValues(b []byte, stripNUL bool, shared *sharedStrings) (Dict, error) {
	if len(b) == 0 {
		return Dict{}, nil
	}
	if len(b) < 4 {
		return nil, malformed("dict: %d bytes, too short for its count", len(b))
	}
	count := binary.BigEndian.Uint32(b)
	off := 4
	// Every pair takes at least its header and the key's NUL.
	if uint64(count) > uint64(len(b)-off)/(pairHeader+1) {
		return nil, malformed("dict: %d pairs cannot fit in %d bytes", count, len(b))
	}
	d := make(Dict, count)
	for i := uint32(0); i < count; i++ {
		if len(b)-off < pairHeader {
			return nil, malformed("dict: pair %d truncated", i)
		}
		klen := uint64(binary.BigEndian.Uint32(b[off:]))
		vlen := uint64(binary.BigEndian.Uint32(b[off+4:]))
		off += pairHeader
		if klen+1+vlen > uint64(len(b)-off) {
			return nil, malformed("dict: pair %d (key %d, value %d bytes) past the end", i, klen, vlen)
		}
		key := b[off : off+int(klen)]
		if b[off+int(klen)] != 0 {
			return nil, malformed("dict: key of pair %d not NUL-terminated", i)
		}
		off += int(klen) + 1
		val := b[off : off+int(vlen)]
		off += int(vlen)
		if n := len(val); stripNUL && n > 0 && val[n-1] == 0 {
			val = val[:n-1]
		}
		if _, dup := d[string(key)]; dup {
			return nil, malformed("dict: key %q twice", key)
		}
		d[shared.of(key)] = shared.of(val)
	}
	if off != len(b) {
		return nil, malformed("dict: %d bytes after the last pair", len(b)-off)
	}
	return d, nil
}

// sharedStrings makes the strings of dicts decoded one after the other, one
// string for the same bytes: the answers of one read of thousands of
// volumes repeat their keys (each answer names its volume "volume0") and
// most of their values ("0", "on", a host's name). Bounded in count and
// length, since the answers come from the network; a nil one shares none.
// Not safe for concurrent use.
type sharedStrings struct{ m map[string]string }

const (
	maxSharedStrings = 4096
	maxSharedLen     = 64
)

// of returns the string of b.
func (s *sharedStrings) of(b []byte) string {
	if s == nil || len(b) > maxSharedLen {
		return string(b)
	}
	if v, ok := s.m[string(b)]; ok {
		return v
	}
	v := string(b)
	if len(s.m) < maxSharedStrings {
		if s.m == nil {
			s.m = make(map[string]string, 256)
		}
		s.m[v] = v
	}
	return v
}

// Int returns the value of key as a decimal int32, as glusterd's
// dict_set_int32 writes it.
func (d Dict) Int(key string) (int32, error) {
	s, ok := d[key]
	if !ok {
		return 0, malformed("no %q", key)
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, malformed("%q is %q, not a number", key, s)
	}
	return int32(n), nil
}

// Str returns the value of key, which must be present.
func (d Dict) Str(key string) (string, error) {
	s, ok := d[key]
	if !ok {
		return "", malformed("no %q", key)
	}
	return s, nil
}
