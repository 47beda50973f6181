package httpapi

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/glusterbus/glusterbus/api"
	"github.com/glusterbus/glusterbus/internal/state"
)

func TestStateJSON(t *testing.T) {
	f := newFixture(t, Options{}, nil)
	sampleModel(f.model)
	f.appendEvents(3, "VOLUME_SET", "native", "gv0")
	resp, body := f.get("/api/v1/state")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%s %s", resp.Status, body)
	}
	var doc struct {
		LastSequence uint64
		Manager      map[string]any
		Glusterd     map[string]any
		Peers        []map[string]any
		Volumes      []map[string]any
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.LastSequence != 3 || doc.Glusterd["Uuid"] != "u0" || len(doc.Peers) != 2 || doc.Peers[0]["Hostname"] != "n2" {
		t.Fatalf("state: %s", body)
	}
	if !reflect.DeepEqual(doc.Manager["Volumes"], []any{"dist", "ec", "gv0"}) {
		t.Errorf("Manager.Volumes %v", doc.Manager["Volumes"])
	}
	hooks := doc.Manager["Webhooks"].([]any)
	if len(hooks) != 1 || hooks[0].(map[string]any)["lag"] != 7.0 || hooks[0].(map[string]any)["url"] != "http://hook.example/in" {
		t.Errorf("Manager.Webhooks %v", hooks)
	}
	gv0 := doc.Volumes[2]
	if gv0["Name"] != "gv0" || gv0["Health"] != "degraded" || gv0["OnlineBrickCount"] != 2.0 {
		t.Fatalf("volume gv0: %v", gv0)
	}
	bricks := gv0["Bricks"].([]any)
	b1 := bricks[1].(map[string]any)
	if len(bricks) != 3 || b1["Name"] != "n2:/b/gv0" || b1["Volume"] != "gv0" || b1["Online"] != false || b1["HostUuid"] != "u1" {
		t.Fatalf("bricks of gv0: %v", bricks)
	}
	// The keys are the D-Bus properties of each interface.
	checkKeys(t, "Manager", doc.Manager, "org.storaged.Storaged.Manager.GlusterFS")
	checkKeys(t, "Glusterd", doc.Glusterd, "org.storaged.Storaged.GlusterFS.Glusterd")
	checkKeys(t, "Peer", doc.Peers[0], "org.storaged.Storaged.GlusterFS.Peer")
	checkKeys(t, "Volume", gv0, "org.storaged.Storaged.GlusterFS.Volume")
	checkKeys(t, "Brick", b1, "org.storaged.Storaged.GlusterFS.Brick")
	// In their D-Bus order.
	if i, j := strings.Index(body, `"Name":"gv0"`), strings.Index(body, `"Health":"degraded"`); i < 0 || j < i {
		t.Error("properties are not in their D-Bus order")
	}
}

// checkKeys compares an object's JSON keys with the interface's properties
// in the introspection XML.
func checkKeys(t *testing.T, what string, obj map[string]any, iface string) {
	t.Helper()
	var props []string
	for _, p := range api.MustInterfaces()[iface].Properties {
		props = append(props, p.Name)
	}
	var keys []string
	for k := range obj {
		keys = append(keys, k)
	}
	if !sameSet(keys, props) {
		t.Errorf("%s keys %v, D-Bus properties %v", what, keys, props)
	}
}

func sameSet(a, b []string) bool {
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

func TestVolumeJSON(t *testing.T) {
	f := newFixture(t, Options{}, nil)
	sampleModel(f.model)
	f.model.SetVolume("a b/c", &state.Volume{Name: "a b/c", Status: "Created"})
	resp, body := f.get("/api/v1/volumes/ec")
	var vol map[string]any
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &vol) != nil || vol["Name"] != "ec" || len(vol["Bricks"].([]any)) != 3 {
		t.Fatalf("%s %s", resp.Status, body)
	}
	resp, body = f.get("/api/v1/volumes/a%20b%2Fc")
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &vol) != nil || vol["Name"] != "a b/c" || len(vol["Bricks"].([]any)) != 0 {
		t.Fatalf("escaped name: %s %s", resp.Status, body)
	}
	f.model.SetVolume("odd", &state.Volume{Name: "odd", Status: "Created", Options: map[string]string{"k": "a\"<b>&\n\\\xff", "z": "plain"}})
	resp, body = f.get("/api/v1/volumes/odd")
	var odd struct{ Options map[string]string }
	if err := json.Unmarshal([]byte(body), &odd); err != nil || resp.StatusCode != http.StatusOK ||
		odd.Options["k"] != "a\"<b>&\n\\\uFFFD" || odd.Options["z"] != "plain" {
		t.Fatalf("odd option values: %s %s %v", resp.Status, body, err)
	}
	resp, body = f.get("/api/v1/volumes/nope")
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, `"error"`) {
		t.Fatalf("unknown volume: %s %s", resp.Status, body)
	}
}

func TestReadOnly(t *testing.T) {
	f := newFixture(t, Options{}, nil)
	for _, path := range []string{"/metrics", "/api/v1/state", "/api/v1/volumes/gv0", "/api/v1/events"} {
		for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
			req, _ := http.NewRequest(method, f.http.URL+path, strings.NewReader("x"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: %s", method, path, resp.Status)
			}
		}
	}
	if resp, _ := f.get("/api/v1/nothing"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown path: %s", resp.Status)
	}
}
