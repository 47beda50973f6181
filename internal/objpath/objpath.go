// Package objpath maps arbitrary names (volume names, brick "host:path"
// strings, peer UUIDs) to single D-Bus object path elements and back.
//
// A path element may only hold [A-Za-z0-9_]. Every other byte, and '_'
// itself, is written as '_' followed by two lowercase hex digits, the
// escaping of systemd's bus_label_escape, so "gv-0" becomes "gv_2d0" and
// "a_b" becomes "a_5fb" (never colliding with "a-b", "a_2db"). Unlike
// systemd, a leading digit is kept as is: D-Bus allows it, and it keeps
// names such as UUIDs readable. The empty string is encoded as "_".
package objpath

import (
	"fmt"
	"strings"
)

const hexDigits = "0123456789abcdef"

// Encode returns the path element for name. It is total and injective.
func Encode(name string) string { return Join("", name) }

// Join returns prefix followed by the path element for name, made in one
// allocation: an object path of tens of thousands made at once.
func Join(prefix, name string) string {
	if name == "" {
		return prefix + "_"
	}
	escaped := 0
	for i := 0; i < len(name); i++ {
		if !isPlain(name[i]) {
			escaped++
		}
	}
	var b strings.Builder
	b.Grow(len(prefix) + len(name) + 2*escaped)
	b.WriteString(prefix)
	for i := 0; i < len(name); i++ {
		c := name[i]
		if isPlain(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('_')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0xf])
	}
	return b.String()
}

// Decode reverses Encode. It accepts upper- and lowercase hex digits (and so
// systemd's escaped leading digits too) and rejects anything Encode cannot
// have produced.
func Decode(elem string) (string, error) {
	if elem == "_" {
		return "", nil
	}
	if elem == "" {
		return "", fmt.Errorf("objpath: empty path element")
	}
	out := make([]byte, 0, len(elem))
	for i := 0; i < len(elem); i++ {
		c := elem[i]
		switch {
		case c == '_':
			if i+2 >= len(elem) {
				return "", fmt.Errorf("objpath: truncated escape at byte %d of %q", i, elem)
			}
			hi, ok1 := unhex(elem[i+1])
			lo, ok2 := unhex(elem[i+2])
			if !ok1 || !ok2 {
				return "", fmt.Errorf("objpath: bad escape %q at byte %d of %q", elem[i:i+3], i, elem)
			}
			out = append(out, hi<<4|lo)
			i += 2
		case isPlain(c):
			out = append(out, c)
		default:
			return "", fmt.Errorf("objpath: byte %q not allowed in a path element", c)
		}
	}
	return string(out), nil
}

func isPlain(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
