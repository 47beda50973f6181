package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"

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
func (p props) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, prop := range p {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(prop.Name)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(jsonValue(prop.Value))
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
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
	switch v := v.(type) {
	case state.Ref:
		return v.Key
	case []state.Ref:
		keys := make([]string, len(v))
		for i, r := range v {
			keys[i] = r.Key
		}
		return keys
	case []state.WebhookState:
		out := make([]webhookJSON, len(v))
		for i, w := range v {
			out[i] = webhookJSON(w)
		}
		return out
	}
	return v
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
	last := s.src.Journal.LastSeq()
	doc := document(s.src.Model.Snapshot())
	doc.LastSequence = last
	writeJSON(w, http.StatusOK, doc)
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
	writeJSON(w, http.StatusOK, document(one).Volumes[0])
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encoding the answer: "+err.Error())
		return
	}
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
