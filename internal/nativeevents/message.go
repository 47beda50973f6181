package nativeevents

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/glusterbus/glusterbus/internal/pyjson"
)

// ErrNotPublished reports an event glustereventsd would not have published
// at all. Message and Payload wrap it with the reason.
var ErrNotPublished = errors.New("glustereventsd would drop this event")

// Entry is one key of glustereventsd's "message" object.
//
// Value is a string, except:
//   - a bool for the keys "force", "push-pem" and "no-verify" (true when the
//     value is "1", "on", "true" or "yes" in any ASCII case, else false);
//   - a json.Number (a canonical decimal) for "ssh-port" when its value is a
//     Python integer literal as int() reads it, else the string;
//   - a [][]string for VOLUME_SET's "options": [["k1","v1"],["k2","v2"]],
//     an odd last name standing alone as ["k"], and [[""]] when the event
//     had no options.
type Entry struct {
	Key   string
	Value any
}

// Message is glustereventsd's "message" object, entries in the order of
// the Python dict (first occurrence of each key; a repeated key keeps its
// first place and its last value).
type Message []Entry

// Get returns the value of key.
func (m Message) Get(key string) (any, bool) {
	for _, e := range m {
		if e.Key == key {
			return e.Value, true
		}
	}
	return nil, false
}

// Message returns the "message" object glustereventsd builds for the event
// it reads from the same datagram: keys exactly as sent (a leading space
// included), values as described at Entry.
//
// glustereventsd drops datagrams this package reads (a value with '=',
// an empty pair, no pairs, invalid UTF-8, an unknown number). For those,
// Message returns an error wrapping ErrNotPublished and, except for an
// unknown number, the message built from Fields the same way (with Fields'
// trimmed keys, VOLUME_SET's options regrouped from the option.* fields).
// Events not made by Parse are always built from Fields.
func (e Event) Message() (Message, error) {
	if _, ok := Name(e.Number); !ok {
		return nil, fmt.Errorf("%w: unknown event number %d", ErrNotPublished, e.Number)
	}
	if e.raw == "" {
		return e.messageFromFields(), nil
	}
	m, err := legacyMessage(e.raw, e.Number)
	if err != nil {
		return e.messageFromFields(), fmt.Errorf("%w: %v", ErrNotPublished, err)
	}
	return m, nil
}

// Payload returns the JSON document glustereventsd POSTs to its webhooks
// for the event, byte for byte: Python's json.dumps(..., sort_keys=True) of
//
//	{"event": Name, "message": Message, "nodeid": nodeID, "ts": unix-ts}
//
// An empty nodeID is written as null (glustereventsd's value when
// glusterd.info has no UUID). Errors are those of Message; the payload is
// then built from the best-effort message.
func (e Event) Payload(nodeID string) ([]byte, error) {
	m, err := e.Message()
	if m == nil {
		return nil, err
	}
	b := make([]byte, 0, 128+len(e.raw)*2)
	b = append(b, `{"event": `...)
	b = pyjson.AppendString(b, e.Name)
	b = append(b, `, "message": `...)
	b = m.AppendJSON(b)
	b = append(b, `, "nodeid": `...)
	if nodeID == "" {
		b = append(b, "null"...)
	} else {
		b = pyjson.AppendString(b, nodeID)
	}
	b = append(b, `, "ts": `...)
	b = strconv.AppendInt(b, e.Time.Unix(), 10)
	b = append(b, '}')
	return b, err
}

// legacyMessage follows glustereventsd's request handler step by step.
func legacyMessage(raw string, number int) (Message, error) {
	// data = request.strip().decode("utf-8")
	data := strings.Trim(raw, asciiSpace)
	if !utf8.ValidString(data) {
		return nil, errors.New("datagram is not valid UTF-8")
	}
	// ts, key, value = data.split(" ", 2)
	parts := strings.SplitN(data, " ", 3)
	if len(parts) != 3 {
		return nil, errors.New("datagram has no key=value part")
	}
	if _, ok := pyInt(parts[0]); !ok {
		return nil, fmt.Errorf("timestamp %s is not an integer", snippet(parts[0]))
	}
	if n, ok := pyInt(parts[1]); !ok || n != strconv.Itoa(number) {
		return nil, fmt.Errorf("event number %s is not read as %d", snippet(parts[1]), number)
	}
	// dict(x.split('=') for x in value.split(';'))
	var d dict
	for piece := range strings.SplitSeq(parts[2], ";") {
		k, v, ok := strings.Cut(piece, "=")
		if !ok || strings.Contains(v, "=") {
			return nil, fmt.Errorf("%s does not hold exactly one '='", snippet(piece))
		}
		d.set(k, v)
	}
	d.convert(number)
	return d.m, nil
}

// messageFromFields builds the message from the parsed fields.
func (e Event) messageFromFields() Message {
	var d dict
	var opts [][]string
	optAt := -1
	for _, f := range e.Fields {
		if e.Number == evVolumeSet {
			if name, ok := strings.CutPrefix(f.Key, OptionPrefix); ok {
				opts = append(opts, []string{name, f.Value})
				if optAt < 0 {
					optAt = len(d.m)
					d.set("options", "")
				}
				continue
			}
		}
		d.set(f.Key, f.Value)
	}
	d.convert(e.Number)
	if optAt >= 0 {
		d.m[optAt].Value = opts
	}
	if d.m == nil {
		return Message{}
	}
	return d.m
}

// dict is the ordered Python dict glustereventsd fills.
type dict struct {
	m Message
}

func (d *dict) set(k string, v any) {
	for i := range d.m {
		if d.m[i].Key == k {
			d.m[i].Value = v
			return
		}
	}
	d.m = append(d.m, Entry{Key: k, Value: v})
}

// convert applies glustereventsd's automatic conversions and its only
// event handler, the one for VOLUME_SET.
func (d *dict) convert(number int) {
	for i, en := range d.m {
		s, ok := en.Value.(string)
		if !ok {
			continue
		}
		switch en.Key {
		case "force", "push-pem", "no-verify":
			d.m[i].Value = boolify(s)
		case "ssh-port":
			if n, ok := pyInt(s); ok {
				d.m[i].Value = json.Number(n)
			}
		}
	}
	if number != evVolumeSet {
		return
	}
	for i, en := range d.m {
		if en.Key == "options" {
			if s, ok := en.Value.(string); ok {
				d.m[i].Value = optionList(s)
			}
			return
		}
	}
	d.set("options", optionList(""))
}

// boolify is glustereventsd's utils.boolify: str(v).lower() in
// ["1", "on", "true", "yes"]. No non-ASCII character lowercases into
// those words, so an ASCII comparison gives the same answer.
func boolify(s string) bool {
	for _, w := range [...]string{"1", "on", "true", "yes"} {
		if len(s) == len(w) && strings.EqualFold(s, w) && isASCII(s) {
			return true
		}
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// pyInt reads s as Python's int(s) does and returns the canonical decimal:
// surrounding Unicode whitespace, one optional sign, decimal digits of any
// script, single underscores between digits.
func pyInt(s string) (string, bool) {
	s = strings.TrimFunc(s, pySpace)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	digits := make([]byte, 0, len(s))
	underscore := true // no underscore first
	for _, r := range s {
		if r == '_' {
			if underscore {
				return "", false
			}
			underscore = true
			continue
		}
		v, ok := pyDecimal(r)
		if !ok {
			return "", false
		}
		digits = append(digits, byte('0'+v))
		underscore = false
	}
	if len(digits) == 0 || underscore {
		return "", false
	}
	i := 0
	for i < len(digits)-1 && digits[i] == '0' {
		i++
	}
	digits = digits[i:]
	if neg && string(digits) != "0" {
		return "-" + string(digits), true
	}
	return string(digits), true
}

// pySpace is the whitespace Python's int() skips: C's isspace for ASCII
// (not the separators U+001C to U+001F, which str.isspace counts), Unicode
// whitespace beyond.
func pySpace(r rune) bool {
	if r < utf8.RuneSelf {
		return strings.IndexByte(asciiSpace, byte(r)) >= 0
	}
	return unicode.IsSpace(r)
}

// pyDecimal returns the value of a decimal digit of any script. Unicode
// encodes each script's digits 0 to 9 contiguously, runs of them back to
// back, so the value is the distance from the run's start modulo 10.
func pyDecimal(r rune) (int, bool) {
	if r >= '0' && r <= '9' {
		return int(r - '0'), true
	}
	if r < utf8.RuneSelf || !unicode.Is(unicode.Nd, r) {
		return 0, false
	}
	start := r
	for unicode.Is(unicode.Nd, start-1) {
		start--
	}
	return int(r-start) % 10, true
}

// AppendJSON appends m as Python's json.dumps(m, sort_keys=True) writes
// it: keys sorted by code point, ", " and ": " as separators, everything
// outside printable ASCII escaped.
func (m Message) AppendJSON(b []byte) []byte {
	sorted := slices.Clone(m)
	slices.SortStableFunc(sorted, func(x, y Entry) int { return strings.Compare(x.Key, y.Key) })
	b = append(b, '{')
	for i, en := range sorted {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = pyjson.AppendString(b, en.Key)
		b = append(b, ": "...)
		b = appendPyValue(b, en.Value)
	}
	return append(b, '}')
}

// JSON returns m as Python's json.dumps(m, sort_keys=True) writes it.
func (m Message) JSON() []byte {
	return m.AppendJSON(nil)
}

func appendPyValue(b []byte, v any) []byte {
	switch v := v.(type) {
	case string:
		return pyjson.AppendString(b, v)
	case bool:
		return strconv.AppendBool(b, v)
	case json.Number:
		return append(b, v...)
	case [][]string:
		b = append(b, '[')
		for i, l := range v {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = append(b, '[')
			for j, s := range l {
				if j > 0 {
					b = append(b, ", "...)
				}
				b = pyjson.AppendString(b, s)
			}
			b = append(b, ']')
		}
		return append(b, ']')
	case nil:
		return append(b, "null"...)
	default:
		return pyjson.AppendString(b, fmt.Sprint(v))
	}
}
