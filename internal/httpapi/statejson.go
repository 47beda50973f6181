package httpapi

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strconv"

	"github.com/glusterbus/glusterbus/internal/state"
)

// stateDoc is GET /api/v1/state: every object with its D-Bus properties
// under their D-Bus names, bricks inside their volumes.
type stateDoc struct {
	LastSequence uint64 // the journal's last event: where to start /api/v1/events
	Manager      props
	Glusterd     props
	Peers        []props // by UUID
	Volumes      []props // by name
}

// props is an object's properties in their D-Bus order, as a JSON object.
// References to other objects are their keys (volume name, "host:path",
// peer UUID), and a volume's Bricks are the bricks themselves.
type props []state.Property

// MarshalJSON writes the properties in order.
func (p props) MarshalJSON() ([]byte, error) { return p.appendJSON(nil), nil }

// appendJSON writes the properties in order. The common values are written
// directly: encoding/json's reflection costs about ten times as much at
// thousands of volumes.
func (p props) appendJSON(b []byte) []byte {
	b = append(b, '{')
	for i, prop := range p {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, prop.Name)
		b = append(b, ':')
		b = appendJSONValue(b, prop.Value)
	}
	return append(b, '}')
}

func appendJSONValue(b []byte, v any) []byte {
	switch v := v.(type) {
	case string:
		return appendJSONString(b, v)
	case bool:
		return strconv.AppendBool(b, v)
	case uint32:
		return strconv.AppendUint(b, uint64(v), 10)
	case uint64:
		return strconv.AppendUint(b, v, 10)
	case int64:
		return strconv.AppendInt(b, v, 10)
	case state.Ref:
		return appendJSONString(b, v.Key)
	case []string:
		b = append(b, '[')
		for i, s := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, s)
		}
		return append(b, ']')
	case []state.Ref:
		b = append(b, '[')
		for i, r := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, r.Key)
		}
		return append(b, ']')
	case state.VolumeList:
		b = append(b, '[')
		first := true
		for r := range v.All() {
			if !first {
				b = append(b, ',')
			}
			b, first = appendJSONString(b, r.Key), false
		}
		return append(b, ']')
	case map[string]string:
		b = append(b, '{')
		for i, k := range slices.Sorted(maps.Keys(v)) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSONString(b, v[k])
		}
		return append(b, '}')
	case []props:
		b = append(b, '[')
		for i, p := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = p.appendJSON(b)
		}
		return append(b, ']')
	}
	data, err := json.Marshal(jsonValue(v))
	if err != nil {
		return append(b, "null"...) // only the types above and below are in the model
	}
	return append(b, data...)
}

// appendJSONString writes s as encoding/json does: plain ASCII as it is,
// anything else (escapes, HTML characters, invalid UTF-8) by json.Marshal.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			data, _ := json.Marshal(s) // a string always marshals
			return append(b, data...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// webhookJSON is one entry of the manager's Webhooks, with the field
// names api/ documents for the D-Bus struct.
type webhookJSON struct {
	URL           string `json:"url"`
	State         string `json:"state"`
	Cursor        uint64 `json:"cursor"`
	LastSeq       uint64 `json:"last_seq"`
	Lag           uint64 `json:"lag"`
	Delivered     uint64 `json:"delivered"`
	Failed        uint64 `json:"failed"`
	Lost          uint64 `json:"lost"`
	LastError     string `json:"last_error"`
	LastErrorUsec int64  `json:"last_error_usec"`
}

func jsonValue(v any) any {
	if w, ok := v.([]state.WebhookState); ok {
		out := make([]webhookJSON, len(w))
		for i, h := range w {
			out[i] = webhookJSON(h)
		}
		return out
	}
	return v
}

// appendJSON writes the document.
func (d *stateDoc) appendJSON(b []byte) []byte {
	b = append(b, `{"LastSequence":`...)
	b = strconv.AppendUint(b, d.LastSequence, 10)
	b = append(b, `,"Manager":`...)
	b = d.Manager.appendJSON(b)
	b = append(b, `,"Glusterd":`...)
	b = d.Glusterd.appendJSON(b)
	b = append(b, `,"Peers":`...)
	b = appendJSONValue(b, d.Peers)
	b = append(b, `,"Volumes":`...)
	b = appendJSONValue(b, d.Volumes)
	return append(b, '}')
}

// document shapes a snapshot's objects. Objects lists each volume followed
// by its bricks, which go into the volume's Bricks.
func document(snap *state.Snapshot) *stateDoc {
	doc := &stateDoc{Peers: []props{}, Volumes: []props{}}
	var bricks []props
	vol := -1
	closeVolume := func() {
		if vol >= 0 {
			setProp(doc.Volumes[vol], "Bricks", bricks)
		}
	}
	for _, o := range snap.Objects() {
		switch o.Ref.Kind {
		case state.KindManager:
			doc.Manager = o.Props
		case state.KindGlusterd:
			doc.Glusterd = o.Props
		case state.KindPeer:
			doc.Peers = append(doc.Peers, o.Props)
		case state.KindVolume:
			closeVolume()
			doc.Volumes = append(doc.Volumes, o.Props)
			vol, bricks = len(doc.Volumes)-1, []props{}
		case state.KindBrick:
			bricks = append(bricks, o.Props)
		}
	}
	closeVolume()
	return doc
}

func setProp(p props, name string, v any) {
	for i := range p {
		if p[i].Name == name {
			p[i].Value = v
			return
		}
	}
}

func (s *Server) serveState(w http.ResponseWriter, _ *http.Request) {
	// Read before the model: an event journaled in between is then sent
	// again to a stream started here, never missed.
	last := s.src.Journal.LastSeq()
	doc := document(s.src.Model.Snapshot())
	doc.LastSequence = last
	writeRawJSON(w, http.StatusOK, doc.appendJSON(nil))
}

func (s *Server) serveVolume(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	v, ok := s.src.Model.Volume(name)
	if !ok {
		writeError(w, http.StatusNotFound, "no volume "+name)
		return
	}
	one := state.NewSnapshot()
	one.Volumes[name] = &v
	writeRawJSON(w, http.StatusOK, document(one).Volumes[0].appendJSON(nil))
}

func writeRawJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(body)
	w.Write([]byte{'\n'})
}

func writeError(w http.ResponseWriter, status int, msg string) {
	body, _ := json.Marshal(map[string]string{"error": msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(body)
	w.Write([]byte{'\n'})
}
