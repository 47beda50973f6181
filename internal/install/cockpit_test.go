package install

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/glusterbus/glusterbus/api"
)

func cockpitFile(t *testing.T, name string) string {
	t.Helper()
	for _, f := range CockpitFiles() {
		if f.Name == name {
			return string(f.Data)
		}
	}
	t.Fatalf("the Cockpit page has no %s", name)
	return ""
}

// TestCockpitPageLoads checks what Cockpit needs to show the page: a
// manifest it reads, and no inline script (its Content-Security-Policy
// blocks them), cockpit.js first, and every file the page loads present.
func TestCockpitPageLoads(t *testing.T) {
	var m struct {
		Version *int                       `json:"version"`
		Menu    map[string]json.RawMessage `json:"menu"`
	}
	if err := json.Unmarshal([]byte(cockpitFile(t, "manifest.json")), &m); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	if m.Version == nil || *m.Version != 0 || m.Menu["index"] == nil {
		t.Errorf("manifest.json: want version 0 and a menu entry for index.html: %+v", m)
	}

	html := cockpitFile(t, "index.html")
	scripts := regexp.MustCompile(`<script([^>]*)>`).FindAllStringSubmatch(html, -1)
	var srcs []string
	for _, s := range scripts {
		src := regexp.MustCompile(`src="([^"]+)"`).FindStringSubmatch(s[1])
		if src == nil {
			t.Errorf("inline script %q: Cockpit's Content-Security-Policy blocks it", s[0])
			continue
		}
		srcs = append(srcs, src[1])
	}
	if len(srcs) == 0 || srcs[0] != "../base1/cockpit.js" {
		t.Errorf("scripts %v: ../base1/cockpit.js must come first", srcs)
	}
	links := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(html, -1)
	for _, l := range links {
		if strings.HasPrefix(l[1], "../base1/") {
			continue
		}
		if !slices.ContainsFunc(CockpitFiles(), func(f CockpitFile) bool { return f.Name == l[1] }) {
			t.Errorf("index.html loads %s, which the page does not have", l[1])
		}
	}
}

// TestCockpitPageFollowsTheAPI checks that the page names only interfaces,
// members and properties that api/ defines.
func TestCockpitPageFollowsTheAPI(t *testing.T) {
	ifaces, err := api.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	js := cockpitFile(t, "glusterbus.js")
	members := map[string]bool{}
	for _, name := range regexp.MustCompile(`"(org\.storaged\.Storaged\.[A-Za-z.]+)"`).FindAllStringSubmatch(js, -1) {
		iface, ok := ifaces[name[1]]
		if !ok {
			t.Errorf("the page names the interface %s, which api/ does not define", name[1])
			continue
		}
		for _, p := range iface.Properties {
			members[p.Name] = true
		}
		for _, m := range iface.Methods {
			members[m.Name] = true
		}
		for _, s := range iface.Signals {
			members[s.Name] = true
		}
	}
	if len(members) == 0 {
		t.Fatal("the page names no interface of api/")
	}
	members["NameOwnerChanged"] = true // the bus's own, to see the daemon start
	// Properties outside strings and comments, then methods and signals.
	code := regexp.MustCompile(`(?s)"[^"\n]*"|/\*.*?\*/|//[^\n]*`).ReplaceAllString(js, `""`)
	used := regexp.MustCompile(`\.([A-Z][A-Za-z]+)\b`).FindAllStringSubmatch(code, -1)
	used = append(used, regexp.MustCompile(`(?:call\(|member: )"([A-Za-z]+)"`).FindAllStringSubmatch(js, -1)...)
	if len(used) == 0 {
		t.Fatal("found no member the page uses")
	}
	for _, u := range used {
		for _, name := range u[1:] {
			if !members[name] {
				t.Errorf("the page uses %s, which api/ does not define on the interfaces it names", name)
			}
		}
	}
}
