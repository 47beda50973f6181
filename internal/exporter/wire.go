package exporter

import (
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/godbus/dbus/v5"
)

// The D-Bus wire form (little-endian) of the values the exporter sends,
// written the way godbus writes them, so that a GetManagedObjects reply can
// be kept encoded and sent as bytes: godbus encodes every message twice and
// the reply is tens of megabytes at scale. Positions are relative to the
// start of the slice, which must sit at an 8-aligned offset of the message.

// maxArrayLen is the largest array D-Bus allows (64 MiB).
const maxArrayLen = 1 << 26

// wireError is a value that D-Bus cannot carry (an invalid string or path,
// a type without a D-Bus form); godbus refuses the same values.
type wireError string

func (e wireError) Error() string { return "dbus wire form: " + string(e) }

func wirePad(b []byte, align int) []byte {
	for len(b)%align != 0 {
		b = append(b, 0)
	}
	return b
}

func appendWireUint32(b []byte, v uint32) []byte {
	return binary.LittleEndian.AppendUint32(wirePad(b, 4), v)
}

func appendWireUint64(b []byte, v uint64) []byte {
	return binary.LittleEndian.AppendUint64(wirePad(b, 8), v)
}

func appendWireString(b []byte, s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return b, wireError("string is not UTF-8")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return b, wireError("string holds a NUL byte")
	}
	b = appendWireUint32(b, uint32(len(s)))
	b = append(b, s...)
	return append(b, 0), nil
}

func appendWirePath(b []byte, p dbus.ObjectPath) ([]byte, error) {
	if !validPath(string(p)) {
		return b, wireError("invalid object path " + fmt.Sprintf("%q", p))
	}
	return appendWireString(b, string(p))
}

// validPath is dbus.ObjectPath.IsValid without its allocations: "/", or
// elements of [A-Za-z0-9_] each after one "/".
func validPath(p string) bool {
	if p == "/" {
		return true
	}
	if len(p) < 2 || p[0] != '/' || p[len(p)-1] == '/' {
		return false
	}
	for i := 1; i < len(p); i++ {
		switch c := p[i]; {
		case c == '/':
			if p[i-1] == '/' {
				return false
			}
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_':
		default:
			return false
		}
	}
	return true
}

// sortedKeys returns m's keys in order, in buf when they fit.
func sortedKeys[V any](m map[string]V, buf []string) []string {
	keys := buf[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func appendWireSignature(b []byte, sig string) []byte {
	b = append(b, byte(len(sig)))
	b = append(b, sig...)
	return append(b, 0)
}

// beginWireArray writes an array's length, to be filled by endWireArray,
// and the padding before its first element.
func beginWireArray(b []byte, elemAlign int) (out []byte, lengthAt, start int) {
	b = appendWireUint32(b, 0)
	lengthAt = len(b) - 4
	b = wirePad(b, elemAlign)
	return b, lengthAt, len(b)
}

func endWireArray(b []byte, lengthAt, start int) ([]byte, error) {
	n := len(b) - start
	if n > maxArrayLen {
		return b, wireError("array longer than 64 MiB")
	}
	binary.LittleEndian.PutUint32(b[lengthAt:], uint32(n))
	return b, nil
}

// appendWireVariant writes a variant: its signature, then its value.
func appendWireVariant(b []byte, v dbus.Variant) ([]byte, error) {
	b = appendWireSignature(b, v.Signature().String())
	return appendWireValue(b, v.Value(), 0)
}

// appendWireValue writes v as godbus would: by its Go type. The types the
// exporter's objects hold take a short path; the rest (structs, other
// slices and maps) go through reflection.
func appendWireValue(b []byte, v any, depth int) ([]byte, error) {
	if depth > 64 {
		return b, wireError("nested deeper than 64")
	}
	var err error
	switch v := v.(type) {
	case string:
		return appendWireString(b, v)
	case dbus.ObjectPath:
		return appendWirePath(b, v)
	case bool:
		if v {
			return appendWireUint32(b, 1), nil
		}
		return appendWireUint32(b, 0), nil
	case uint32:
		return appendWireUint32(b, v), nil
	case int32:
		return appendWireUint32(b, uint32(v)), nil
	case uint64:
		return appendWireUint64(b, v), nil
	case int64:
		return appendWireUint64(b, uint64(v)), nil
	case dbus.Variant:
		return appendWireVariant(b, v)
	case []string:
		b, at, start := beginWireArray(b, 4)
		for _, s := range v {
			if b, err = appendWireString(b, s); err != nil {
				return b, err
			}
		}
		return endWireArray(b, at, start)
	case []dbus.ObjectPath:
		b, at, start := beginWireArray(b, 4)
		for _, p := range v {
			if b, err = appendWirePath(b, p); err != nil {
				return b, err
			}
		}
		return endWireArray(b, at, start)
	case map[string]string:
		return appendWireDict(b, v, appendWireString)
	case map[string]dbus.Variant:
		return appendWireDict(b, v, appendWireVariant)
	}
	return appendWireReflect(b, reflect.ValueOf(v), depth)
}

var (
	variantType    = reflect.TypeFor[dbus.Variant]()
	objectPathType = reflect.TypeFor[dbus.ObjectPath]()
	signatureType  = reflect.TypeFor[dbus.Signature]()
)

// wireAlign is the alignment godbus gives a Go type.
func wireAlign(t reflect.Type) int {
	switch t {
	case variantType, signatureType:
		return 1
	case objectPathType:
		return 4
	}
	switch t.Kind() {
	case reflect.Uint8:
		return 1
	case reflect.Uint16, reflect.Int16:
		return 2
	case reflect.Uint, reflect.Int, reflect.Uint32, reflect.Int32, reflect.String, reflect.Array, reflect.Slice, reflect.Map:
		return 4
	case reflect.Uint64, reflect.Int64, reflect.Float64, reflect.Struct:
		return 8
	case reflect.Pointer:
		return wireAlign(t.Elem())
	}
	return 1
}

// appendWireReflect is appendWireValue for the types without a short path.
func appendWireReflect(b []byte, v reflect.Value, depth int) ([]byte, error) {
	if !v.IsValid() {
		return b, wireError("nil value")
	}
	var err error
	switch t := v.Type(); {
	case t == variantType:
		return appendWireVariant(b, v.Interface().(dbus.Variant))
	case t == signatureType:
		return appendWireSignature(b, v.Interface().(dbus.Signature).String()), nil
	case t == objectPathType:
		return appendWirePath(b, dbus.ObjectPath(v.String()))
	}
	b = wirePad(b, wireAlign(v.Type()))
	switch v.Kind() {
	case reflect.Uint8:
		return append(b, byte(v.Uint())), nil
	case reflect.Bool:
		if v.Bool() {
			return appendWireUint32(b, 1), nil
		}
		return appendWireUint32(b, 0), nil
	case reflect.Int16, reflect.Uint16:
		var u uint16
		if v.Kind() == reflect.Int16 {
			u = uint16(v.Int())
		} else {
			u = uint16(v.Uint())
		}
		return binary.LittleEndian.AppendUint16(b, u), nil
	case reflect.Int, reflect.Int32:
		if v.Type() == reflect.TypeFor[dbus.UnixFD]() {
			return b, wireError("file descriptors cannot be kept encoded")
		}
		return appendWireUint32(b, uint32(v.Int())), nil
	case reflect.Uint, reflect.Uint32:
		return appendWireUint32(b, uint32(v.Uint())), nil
	case reflect.Int64:
		return appendWireUint64(b, uint64(v.Int())), nil
	case reflect.Uint64:
		return appendWireUint64(b, v.Uint()), nil
	case reflect.Float64:
		return appendWireUint64(b, math.Float64bits(v.Float())), nil
	case reflect.String:
		return appendWireString(b, v.String())
	case reflect.Pointer:
		return appendWireReflect(b, v.Elem(), depth)
	case reflect.Interface:
		if v.IsNil() {
			return b, wireError("nil value")
		}
		return appendWireVariant(b, dbus.MakeVariant(v.Elem().Interface()))
	case reflect.Slice, reflect.Array:
		b, at, start := beginWireArray(b, wireAlign(v.Type().Elem()))
		for i := range v.Len() {
			if b, err = appendWireReflect(b, v.Index(i), depth+1); err != nil {
				return b, err
			}
		}
		return endWireArray(b, at, start)
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			if f := t.Field(i); f.PkgPath == "" && f.Tag.Get("dbus") != "-" {
				if b, err = appendWireReflect(b, v.Field(i), depth+1); err != nil {
					return b, err
				}
			}
		}
		return b, nil
	case reflect.Map:
		switch v.Type().Key().Kind() {
		case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Int16, reflect.Int32,
			reflect.Int64, reflect.Float64, reflect.String, reflect.Uint, reflect.Int:
		default:
			return b, wireError("no D-Bus dict key for " + v.Type().Key().String())
		}
		keys := v.MapKeys()
		if v.Type().Key().Kind() == reflect.String {
			slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		}
		b, at, start := beginWireArray(b, 8)
		for _, k := range keys {
			b = wirePad(b, 8)
			if b, err = appendWireReflect(b, k, depth+2); err != nil {
				return b, err
			}
			if b, err = appendWireReflect(b, v.MapIndex(k), depth+2); err != nil {
				return b, err
			}
		}
		return endWireArray(b, at, start)
	}
	return b, wireError("no D-Bus form for " + v.Type().String())
}

// appendWireDict writes an a{s...} dict, its keys sorted as godbus sorts
// them, each value with value.
func appendWireDict[V any](b []byte, m map[string]V, value func([]byte, V) ([]byte, error)) ([]byte, error) {
	var buf [16]string
	var err error
	b, at, start := beginWireArray(b, 8)
	for _, k := range sortedKeys(m, buf[:]) {
		b = wirePad(b, 8)
		if b, err = appendWireString(b, k); err != nil {
			return b, err
		}
		if b, err = value(b, m[k]); err != nil {
			return b, err
		}
	}
	return endWireArray(b, at, start)
}
