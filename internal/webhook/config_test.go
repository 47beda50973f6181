package webhook

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events", "webhooks.json")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadFormats(t *testing.T) {
	// As gluster-eventsapi writes it (json.dumps, no newline), plus a
	// bare-token webhook, a null one, extras and our extension.
	path := writeConfig(t, `{"http://a.example:9000/listen": {"token": "", "secret": ""}, `+
		`"https://b.example/x": "tok-b", `+
		`"http://gone.example/": null, `+
		`"https://c.example/y": {"token": null, "secret": "sec-c", "comment": "kept", `+
		`"glusterbus": {"events": ["VOLUME_*", "brick_disconnected"], "volumes": ["gv0"], "sources": ["native"], `+
		`"no_verify": true, "ca_file": "/etc/ca.pem", "timeout": 2.5}}}`)
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []Webhook{
		{URL: "http://a.example:9000/listen"},
		{URL: "https://b.example/x", Token: "tok-b"},
		{URL: "https://c.example/y", Secret: "sec-c", Events: []string{"VOLUME_*", "brick_disconnected"},
			Volumes: []string{"gv0"}, Sources: []string{"native"}, NoVerify: true, CAFile: "/etc/ca.pem", Timeout: 2500 * time.Millisecond},
	}
	if !reflect.DeepEqual(cfg.Webhooks, want) || len(cfg.Invalid) != 0 {
		t.Fatalf("Load:\n got %+v %+v\nwant %+v", cfg.Webhooks, cfg.Invalid, want)
	}

	cfg, err = Load(filepath.Join(t.TempDir(), "missing.json"))
	if err != nil || len(cfg.Webhooks)+len(cfg.Invalid) != 0 {
		t.Fatalf("missing file: %+v, %v", cfg, err)
	}
}

func TestLoadInvalidWebhooks(t *testing.T) {
	path := writeConfig(t, `{
		"http://ok.example/": "",
		"ftp://x.example/": "",
		"no-scheme.example:9000/listen": "",
		"http://typo.example/": {"token": "", "secret": "", "glusterbus": {"volume": ["gv0"]}},
		"http://src.example/": {"glusterbus": {"sources": ["nativ"]}},
		"http://rel.example/": {"glusterbus": {"ca_file": "ca.pem"}},
		"http://pat.example/": {"glusterbus": {"events": ["VOLUME_*_X"]}},
		"http://to.example/": {"glusterbus": {"timeout": -1}}
	}`)
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Webhooks) != 1 || cfg.Webhooks[0].URL != "http://ok.example/" {
		t.Errorf("valid webhooks: %+v", cfg.Webhooks)
	}
	if len(cfg.Invalid) != 7 {
		t.Fatalf("invalid: %+v", cfg.Invalid)
	}
	for _, iv := range cfg.Invalid {
		if !errors.Is(iv.Err, ErrInvalid) {
			t.Errorf("%s: %v does not wrap ErrInvalid", iv.URL, iv.Err)
		}
	}
}

func TestLoadMalformed(t *testing.T) {
	const token = "tok-SECRET-1234"
	for _, content := range []string{
		``,
		"  \n",
		`[]`,
		`"x"`,
		`{"http://a/": "` + token + `"`,
		// gluster/glusterfs#3714: "{}" written over the start of the file.
		`{}http://a.example/": {"token": "` + token + `", "secret": ""}}`,
		`{"http://a/": 5}`,
		`{"http://a/": ["` + token + `"]}`,
		`{"http://a/": {"token": 12345}}`,
		`{"http://a/": {"token": ["` + token + `"]}}`,
		`{"http://a/": {"token": "` + token + `", "secret": "x"}} {}`,
	} {
		_, err := Load(writeConfig(t, content))
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: err = %v, want ErrMalformed", content, err)
			continue
		}
		if strings.Contains(err.Error(), token) || strings.Contains(err.Error(), "12345") {
			t.Errorf("%q: error reveals the token: %v", content, err)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:pw-123@h.example/x":  "https://user:xxxxx@h.example/x",
		"http://h.example/x?a=1":           "http://h.example/x?a=1",
		"http://user:pw-123@h.example/%zz": "http://xxxxx@h.example/%zz",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzLoad feeds arbitrary webhooks files to the reader and to the editor:
// neither may panic, what is accepted must be usable, a credential never
// shows in an error, and adding a webhook keeps every other one as it was.
func FuzzLoad(f *testing.F) {
	const secret = "tok-SECRET-1234"
	for _, s := range []string{
		`{"http://a.example:9000/listen": {"token": "", "secret": ""}}`,
		`{"https://b.example/x": "` + secret + `", "http://gone.example/": null}`,
		`{"https://c.example/y": {"token": null, "secret": "` + secret + `", "comment": "kept", ` +
			`"glusterbus": {"events": ["VOLUME_*"], "volumes": ["gv0"], "sources": ["native"], "no_verify": true, "timeout": 2.5}}}`,
		`{"ftp://x.example/": "", "http://to.example/": {"glusterbus": {"timeout": -1}}}`,
		`{}http://a.example/": {"token": "` + secret + `", "secret": ""}}`,
		`{"http://a/": {"token": 12345}}`,
		`{"http://a/": "x", "http://a/": "y"}`,
		"{\"http://\xff/\": \"\"}",
		``,
	} {
		f.Add([]byte(s))
	}
	const added = "http://fuzz-added.invalid/hook"
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := parseConfig(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			if onlyAsCredential(data, secret) && strings.Contains(err.Error(), secret) {
				t.Fatalf("error reveals a credential: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for i, w := range cfg.Webhooks {
			if err := validate(&w); err != nil {
				t.Fatalf("accepted an unusable webhook: %v", err)
			}
			if i > 0 && cfg.Webhooks[i-1].URL >= w.URL {
				t.Fatalf("webhooks not sorted and unique: %q, %q", cfg.Webhooks[i-1].URL, w.URL)
			}
			seen[w.URL] = true
		}
		for _, iv := range cfg.Invalid {
			if seen[iv.URL] {
				t.Fatalf("%q both valid and invalid", iv.URL)
			}
			if onlyAsCredential(data, secret) && strings.Contains(iv.Err.Error(), secret) {
				t.Fatalf("error reveals a credential: %v", iv.Err)
			}
			seen[iv.URL] = true
		}
		if seen[added] {
			return
		}

		path := filepath.Join(t.TempDir(), "webhooks.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := Add(path, Webhook{URL: added, Token: "t"}); err != nil {
			t.Fatalf("Add to a readable file: %v", err)
		}
		after, err := Load(path)
		if err != nil {
			t.Fatalf("file unreadable after Add: %v", err)
		}
		i := slices.IndexFunc(after.Webhooks, func(w Webhook) bool { return w.URL == added })
		if i < 0 {
			t.Fatalf("added webhook missing: %+v", after.Webhooks)
		}
		after.Webhooks = slices.Delete(after.Webhooks, i, i+1)
		if !reflect.DeepEqual(after.Webhooks, cfg.Webhooks) && len(after.Webhooks)+len(cfg.Webhooks) > 0 {
			t.Fatalf("Add changed other webhooks:\n got %+v\nwant %+v", after.Webhooks, cfg.Webhooks)
		}
		if len(after.Invalid) != len(cfg.Invalid) {
			t.Fatalf("Add changed the unusable webhooks:\n got %+v\nwant %+v", after.Invalid, cfg.Invalid)
		}
		for i := range cfg.Invalid {
			if after.Invalid[i].URL != cfg.Invalid[i].URL || after.Invalid[i].Err.Error() != cfg.Invalid[i].Err.Error() {
				t.Fatalf("Add changed the unusable webhooks:\n got %+v\nwant %+v", after.Invalid, cfg.Invalid)
			}
		}
	})
}

// onlyAsCredential reports whether s occurs in data once, as the value of
// a "token" or "secret" key: then no message may quote it.
func onlyAsCredential(data []byte, s string) bool {
	text := string(data)
	i := strings.Index(text, s)
	if i < 0 || strings.Count(text, s) != 1 {
		return false
	}
	before := text[:i]
	return strings.HasSuffix(before, `"token": "`) || strings.HasSuffix(before, `"secret": "`) ||
		strings.HasSuffix(before, `"token":"`) || strings.HasSuffix(before, `"secret":"`)
}
