package webhook

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/glusterbus/glusterbus/internal/journal"
	"github.com/glusterbus/glusterbus/internal/nativeevents"
	"github.com/glusterbus/glusterbus/internal/pyjson"
)

// Headers glusterbus adds to glustereventsd's.
const (
	HeaderSequence = "X-Glusterbus-Sequence"
	HeaderSource   = "X-Glusterbus-Source"
)

// jwtLifetime is how long glustereventsd's JWTs are valid.
const jwtLifetime = 60 * time.Second

// Body returns the JSON document POSTed to webhooks for ev, as
// glustereventsd writes it (Python's json.dumps(..., sort_keys=True)):
//
//	{"event": NAME, "message": {...}, "nodeid": UUID, "ts": SECONDS}
//
// For a native event of a known name, "message" is rebuilt from the fields
// by nativeevents (glustereventsd's conversions: booleans, ssh-port,
// VOLUME_SET's options list). It equals glustereventsd's body for the
// datagram except where the journaled fields lost what glustereventsd
// keeps: blanks around keys (AFR's "client-pid=-6; subvol=..." gives
// glustereventsd the key " subvol", the journal "subvol"), and blanks at the
// end of the value before an empty last "options=" of VOLUME_SET. Otherwise "message" holds the fields as
// strings (a repeated key keeps its last value). An empty node is null, as
// when glustereventsd cannot read the node's UUID.
func Body(ev journal.Event) []byte {
	if ev.Source == SourceNative {
		if b := nativeBody(&ev); b != nil {
			return b
		}
	}
	return genericBody(ev.Name, ev.Fields, ev.Node, ev.Time.Unix())
}

// evVolumeSet is VOLUME_SET's number.
var evVolumeSet, _ = nativeevents.Number("VOLUME_SET")

// pyASCIISpace is what Python's bytes.strip removes.
const pyASCIISpace = " \t\n\r\v\f"

// nativeBody is Body for a native event, nil if its name is unknown.
func nativeBody(ev *journal.Event) []byte {
	n, ok := nativeevents.Number(ev.Name)
	if !ok {
		return nil
	}
	name, _ := nativeevents.Name(n)
	ne := nativeevents.Event{Time: ev.Time, Number: n, Name: name, Fields: make([]nativeevents.Field, len(ev.Fields))}
	for i, f := range ev.Fields {
		ne.Fields[i] = nativeevents.Field{Key: f.Key, Value: f.Value}
	}
	// glustereventsd strips the datagram, so the last value loses its
	// trailing blanks (VOLUME_CREATE's "bricks= h:/b1 h:/b2 "); in
	// VOLUME_SET, whose options come last, that is the last option's value,
	// or its name if it has no value (and the name goes if nothing is left
	// of it: blanks after a trailing comma).
	if k := len(ne.Fields); k > 0 {
		last := &ne.Fields[k-1]
		if n == evVolumeSet && last.Value == "" && strings.HasPrefix(last.Key, nativeevents.OptionPrefix) {
			last.Key = strings.TrimRight(last.Key, pyASCIISpace)
			if last.Key == nativeevents.OptionPrefix {
				ne.Fields = ne.Fields[:k-1]
			}
		} else {
			last.Value = strings.TrimRight(last.Value, pyASCIISpace)
		}
	}
	m, _ := ne.Message()
	if m == nil {
		return nil
	}
	// glustereventsd strips the commas around VOLUME_SET's options
	// before pairing them, so its last group is never [name, ""]: an odd
	// last name ("auth.allow,10.0.0.1,10.0.0.2" splits into
	// [["auth.allow", "10.0.0.1"], ["10.0.0.2"]]) stands alone.
	for i, e := range m {
		if opts, ok := e.Value.([][]string); ok && e.Key == "options" && len(opts) > 0 {
			if last := opts[len(opts)-1]; len(last) == 2 && last[1] == "" {
				opts = slices.Clone(opts)
				opts[len(opts)-1] = last[:1]
				m[i].Value = opts
			}
		}
	}
	return writeBody(name, m.AppendJSON(nil), ev.Node, ev.Time.Unix())
}

// genericBody writes the body with the fields as strings.
func genericBody(name string, fields []journal.Field, node string, ts int64) []byte {
	msg := make([]journal.Field, 0, len(fields))
	for _, f := range fields {
		if i := slices.IndexFunc(msg, func(m journal.Field) bool { return m.Key == f.Key }); i >= 0 {
			msg[i].Value = f.Value
			continue
		}
		msg = append(msg, f)
	}
	slices.SortStableFunc(msg, func(a, b journal.Field) int { return strings.Compare(a.Key, b.Key) })
	b := make([]byte, 0, 16+32*len(msg))
	b = append(b, '{')
	for i, f := range msg {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = pyjson.AppendString(b, f.Key)
		b = append(b, ": "...)
		b = pyjson.AppendString(b, f.Value)
	}
	return writeBody(name, append(b, '}'), node, ts)
}

// writeBody writes json.dumps({"event": ..., "message": ..., "nodeid":
// ..., "ts": ...}, sort_keys=True) around the message's JSON.
func writeBody(name string, message []byte, node string, ts int64) []byte {
	b := make([]byte, 0, 64+len(name)+len(node)+len(message))
	b = append(b, `{"event": `...)
	b = pyjson.AppendString(b, name)
	b = append(b, `, "message": `...)
	b = append(b, message...)
	b = append(b, `, "nodeid": `...)
	if node == "" {
		b = append(b, "null"...)
	} else {
		b = pyjson.AppendString(b, node)
	}
	b = append(b, `, "ts": `...)
	b = strconv.AppendInt(b, ts, 10)
	return append(b, '}')
}

// jwtToken returns the JWT glustereventsd's get_jwt_token makes for an
// event: header {"alg":"HS256","typ":"JWT"}, claims
// {"exp":now+60,"iat":ts,"iss":"gluster","sub":event}, both compact with
// sorted keys, HS256-signed with the secret.
func jwtToken(secret, event string, ts int64, now time.Time) (string, error) {
	claims := jwt.MapClaims{
		"exp": now.Add(jwtLifetime).Unix(),
		"iat": ts,
		"iss": "gluster",
		"sub": event,
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
}

// authorization returns the Authorization header value for an event, or ""
// for none. A secret wins over a token, as in glustereventsd.
func authorization(w *Webhook, event string, ts int64, now time.Time) (string, error) {
	switch {
	case w.Secret != "":
		t, err := jwtToken(w.Secret, event, ts, now)
		if err != nil {
			return "", err
		}
		return "Bearer " + t, nil
	case w.Token != "":
		return "Bearer " + w.Token, nil
	}
	return "", nil
}

// post is one body to send: one event, or a batch.
type post struct {
	body   []byte
	event  string   // name, the JWT's sub
	ts     int64    // the JWT's iat
	seqs   []uint64 // the events' sequence numbers; none: no sequence header
	source string
}

func postOf(ev journal.Event) post {
	p := post{body: Body(ev), event: ev.Name, ts: ev.Time.Unix(), source: ev.Source}
	if ev.Seq != 0 {
		p.seqs = []uint64{ev.Seq}
	}
	return p
}

// BatchBody returns the body POSTed to a webhook with "batch" set: the
// events' Body, in order, as a JSON array ("[" body ", " body ... "]", as
// Python's json.dumps writes a list).
func BatchBody(evs []*journal.Event) []byte {
	b := []byte{'['}
	for i, ev := range evs {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, Body(*ev)...)
	}
	return append(b, ']')
}

// batchPostOf is the post of a batch. Its JWT is the first event's (sub and
// iat); its source header names every source in it, comma separated.
func batchPostOf(evs []*journal.Event) post {
	p := post{body: BatchBody(evs), event: evs[0].Name, ts: evs[0].Time.Unix(), seqs: make([]uint64, len(evs))}
	var sources []string
	for i, ev := range evs {
		p.seqs[i] = ev.Seq
		if !slices.Contains(sources, ev.Source) {
			sources = append(sources, ev.Source)
		}
	}
	p.source = strings.Join(sources, ",")
	return p
}

// newRequest builds the POST of p to w.
func newRequest(ctx context.Context, w *Webhook, p *post, now time.Time) (*http.Request, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(p.body))
	if err != nil {
		return nil, "", err
	}
	auth, err := authorization(w, p.event, p.ts, now)
	if err != nil {
		return nil, "", err
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "*/*")
	h.Set("User-Agent", "glusterbus")
	if auth != "" {
		h.Set("Authorization", auth)
	}
	if len(p.seqs) > 0 {
		h.Set(HeaderSequence, joinSeqs(p.seqs))
	}
	h.Set(HeaderSource, p.source)
	return req, auth, nil
}

// joinSeqs writes sequence numbers as an HTTP list: "5", or "5,6,9".
func joinSeqs(seqs []uint64) string {
	b := make([]byte, 0, 8*len(seqs))
	for i, s := range seqs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, s, 10)
	}
	return string(b)
}
