package webhook

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
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
