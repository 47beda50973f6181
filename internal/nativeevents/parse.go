package nativeevents

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxDatagramSize is the largest input Parse accepts: the largest UDP
// payload there is.
const MaxDatagramSize = 65535

// OptionPrefix starts the keys of the fields Parse makes from VOLUME_SET's
// "options" value: "options=,k1,v1,k2,v2" becomes the fields
// "option.k1=v1" and "option.k2=v2".
const OptionPrefix = "option."

var (
	// ErrMalformed reports a datagram that is not
	// "<unix-ts> <event-number> key=value;...". Parse wraps it with detail.
	ErrMalformed = errors.New("malformed event datagram")
	// ErrUnknownEvent reports an event number outside the table. Parse
	// still returns the time, number and fields it read.
	ErrUnknownEvent = errors.New("unknown event number")
)

// Field is one key=value pair of an event.
type Field struct {
	Key, Value string
}

// Event is one decoded native event.
type Event struct {
	// Time is the sender's clock, whole seconds.
	Time time.Time
	// Number indexes the event table (see Name).
	Number int
	// Name is the event's name as glustereventsd publishes it, for example
	// "VOLUME_SET"; empty for an unknown number.
	Name string
	// Fields are the event's pairs in the order sent; see Parse for how
	// they are read.
	Fields []Field

	// raw is the datagram Parse read, kept to rebuild exactly what
	// glustereventsd would publish (see Message). Empty for events not
	// made by Parse.
	raw string
}

// Get returns the value of the first field named key.
func (e Event) Get(key string) (string, bool) {
	for _, f := range e.Fields {
		if f.Key == key {
			return f.Value, true
		}
	}
	return "", false
}

// asciiSpace is what Python's bytes.strip removes.
const asciiSpace = " \t\n\r\v\f"

// Parse decodes one datagram of the form
//
//	<unix-ts> <event-number> key=value;key=value...
//
// It reads more than glustereventsd does, which drops the whole datagram on
// most of the quirks below:
//
//   - Leading whitespace and trailing NUL, CR and LF bytes around the
//     datagram are ignored; anything else is kept, so a value keeps its
//     trailing spaces (VOLUME_CREATE sends "bricks= h:/b1 h:/b2 ").
//   - Several spaces may separate the timestamp and the number; exactly one
//     separates the number from the pairs.
//   - No pairs at all, only whitespace, or the literal "(null)" (what the
//     C emitters print for BITROT_ENABLE and BITROT_DISABLE) give no fields.
//   - Pairs are separated by ';' and split on their first '=', so values
//     may contain '='. Keys lose surrounding whitespace (AFR sends
//     "client-pid=-6; subvol=..."), and may be empty ("=x", as
//     glustereventsd reads it too); values are kept exactly.
//   - The emitters do not escape ';' in values: a piece without '='
//     continues the previous value, ';' included, so
//     "options=,user.note,a;b" keeps its value whole. Such a piece before
//     any pair is an error. Trailing ';' separators are dropped.
//   - Fields are kept in order, duplicates included.
//   - Each run of invalid UTF-8 and each NUL byte inside keys and values
//     becomes U+FFFD, so keys and values are always valid D-Bus strings.
//
// For VOLUME_SET, the "options" field (",key1,val1,key2,val2" as the CLI
// sends it) is replaced, in place, by one field per option: key
// OptionPrefix+name, value the option's value, paired the way
// glustereventsd pairs them (an option value that contains ',' is therefore
// split wrongly, as it is by glustereventsd). VOLUME_RESET needs no such
// conversion: GlusterFS 10 sends "name=<vol>;option=<key>" or "option=all".
//
// The errors wrap ErrMalformed or ErrUnknownEvent. With ErrUnknownEvent the
// returned Event holds the time, number and fields read.
func Parse(datagram []byte) (Event, error) {
	if len(datagram) > MaxDatagramSize {
		return Event{}, fmt.Errorf("%w: %d bytes, more than a UDP datagram holds", ErrMalformed, len(datagram))
	}
	raw := string(datagram)
	s := strings.TrimLeft(strings.TrimRight(raw, "\x00\r\n"), asciiSpace)
	if s == "" {
		return Event{}, fmt.Errorf("%w: empty datagram", ErrMalformed)
	}
	tsText, rest, _ := strings.Cut(s, " ")
	ts, err := parseDecimal(tsText)
	if err != nil {
		return Event{}, fmt.Errorf("%w: timestamp %s: %v", ErrMalformed, snippet(tsText), err)
	}
	numText, detail, _ := strings.Cut(strings.TrimLeft(rest, " "), " ")
	if numText == "" {
		return Event{}, fmt.Errorf("%w: no event number in %s", ErrMalformed, snippet(s))
	}
	num, err := parseDecimal(numText)
	if err != nil || num > int64(maxInt) {
		if err == nil {
			err = strconv.ErrRange
		}
		return Event{}, fmt.Errorf("%w: event number %s: %v", ErrMalformed, snippet(numText), err)
	}
	ev := Event{Time: time.Unix(ts, 0), Number: int(num), raw: raw}
	ev.Fields, err = splitFields(detail)
	if err != nil {
		return Event{}, err
	}
	if !utf8.ValidString(raw) || strings.IndexByte(raw, 0) >= 0 {
		for i := range ev.Fields {
			ev.Fields[i].Key = sanitize(ev.Fields[i].Key)
			ev.Fields[i].Value = sanitize(ev.Fields[i].Value)
		}
	}
	name, ok := Name(ev.Number)
	if !ok {
		return ev, fmt.Errorf("%w: %d (this GlusterFS defines 0 to %d)", ErrUnknownEvent, ev.Number, Count-1)
	}
	ev.Name = name
	if ev.Number == evVolumeSet {
		ev.Fields = expandOptions(ev.Fields)
	}
	return ev, nil
}

const maxInt = int(^uint(0) >> 1)

// parseDecimal reads a non-negative decimal number of ASCII digits.
func parseDecimal(s string) (int64, error) {
	if s == "" {
		return 0, strconv.ErrSyntax
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, strconv.ErrSyntax
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, strconv.ErrRange
	}
	return n, nil
}

// splitFields reads the pairs after the event number; see Parse.
func splitFields(detail string) ([]Field, error) {
	// Drop trailing separators (and blanks after them).
	for {
		t := strings.TrimRight(detail, " \t")
		if !strings.HasSuffix(t, ";") {
			break
		}
		detail = t[:len(t)-1]
	}
	if strings.Trim(detail, asciiSpace) == "" || detail == "(null)" {
		return nil, nil
	}
	fields := make([]Field, 0, strings.Count(detail, ";")+1)
	for piece := range strings.SplitSeq(detail, ";") {
		k, v, hasEq := strings.Cut(piece, "=")
		if hasEq {
			fields = append(fields, Field{Key: strings.Trim(k, asciiSpace), Value: v})
			continue
		}
		if len(fields) == 0 {
			if strings.Trim(piece, asciiSpace) == "" {
				continue
			}
			return nil, fmt.Errorf("%w: %s is not a key=value pair", ErrMalformed, snippet(piece))
		}
		last := &fields[len(fields)-1]
		last.Value = last.Value + ";" + piece
	}
	return fields, nil
}

// sanitize makes s valid UTF-8 without NUL bytes.
func sanitize(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

// snippet quotes the start of s for an error message.
func snippet(s string) string {
	const max = 64
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}

// optionList splits VOLUME_SET's "options" value the way glustereventsd
// does: surrounding commas stripped, split at commas, grouped two by two;
// an odd last element stands alone.
func optionList(s string) [][]string {
	parts := strings.Split(strings.Trim(s, ","), ",")
	out := make([][]string, 0, (len(parts)+1)/2)
	for i := 0; i < len(parts); i += 2 {
		out = append(out, parts[i:min(i+2, len(parts)):min(i+2, len(parts))])
	}
	return out
}

// expandOptions replaces every "options" field by its option.<name> fields.
func expandOptions(fields []Field) []Field {
	var out []Field
	for i, f := range fields {
		if f.Key != "options" {
			if out != nil {
				out = append(out, f)
			}
			continue
		}
		if out == nil {
			out = append(make([]Field, 0, len(fields)+4), fields[:i]...)
		}
		if strings.Trim(f.Value, ",") == "" {
			continue
		}
		for _, p := range optionList(f.Value) {
			v := ""
			if len(p) == 2 {
				v = p[1]
			}
			out = append(out, Field{Key: OptionPrefix + p[0], Value: v})
		}
	}
	if out == nil {
		return fields
	}
	return out
}
