package webhook

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/testbed"
)

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestEditVerbs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events", "webhooks.json")

	if err := Add(path, Webhook{URL: "http://a.example:9000/listen", Token: "t1"}); err != nil {
		t.Fatal(err)
	}
	// gluster-eventsapi's own layout: {"token": ..., "secret": ...}.
	if got, want := readFile(t, path), `{"http://a.example:9000/listen": {"token": "t1", "secret": ""}}`+"\n"; got != want {
		t.Fatalf("after Add:\n got %s\nwant %s", got, want)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("new file mode: %v, %v", fi.Mode(), err)
	}
	if err := Add(path, Webhook{URL: "http://a.example:9000/listen"}); !errors.Is(err, ErrExists) {
		t.Errorf("second Add: %v, want ErrExists", err)
	}
	if err := Add(path, Webhook{URL: "gopher://x/"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Add with a bad URL: %v, want ErrInvalid", err)
	}
	if err := Add(path, Webhook{URL: "https://b.example/in", Secret: "s\u00e9c", Events: []string{"VOLUME_*"}, Sources: []string{SourceNative}, NoVerify: true, Timeout: 1500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	want := `{"http://a.example:9000/listen": {"token": "t1", "secret": ""}, ` +
		`"https://b.example/in": {"token": "", "secret": "s\u00e9c", "glusterbus": {"events": ["VOLUME_*"], "sources": ["native"], "no_verify": true, "timeout": 1.5}}}` + "\n"
	if got := readFile(t, path); got != want {
		t.Fatalf("after second Add:\n got %s\nwant %s", got, want)
	}

	// webhook-mod: only what is given changes; "" is "not given".
	empty, tok := "", "t2"
	vols := []string{"gv0"}
	if err := Modify(path, "http://a.example:9000/listen", Change{Token: &empty, Secret: &empty, Volumes: &vols}); err != nil {
		t.Fatal(err)
	}
	if err := Modify(path, "https://b.example/in", Change{Token: &tok, ClearSecret: true, Events: &[]string{}}); err != nil {
		t.Fatal(err)
	}
	want = `{"http://a.example:9000/listen": {"token": "t1", "secret": "", "glusterbus": {"volumes": ["gv0"]}}, ` +
		`"https://b.example/in": {"token": "t2", "secret": "", "glusterbus": {"sources": ["native"], "no_verify": true, "timeout": 1.5}}}` + "\n"
	if got := readFile(t, path); got != want {
		t.Fatalf("after Modify:\n got %s\nwant %s", got, want)
	}
	if err := Modify(path, "http://nope/", Change{Token: &tok}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Modify of a missing webhook: %v, want ErrNotFound", err)
	}
	bad := []string{"nativ"}
	if err := Modify(path, "https://b.example/in", Change{Sources: &bad}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Modify with a bad source: %v, want ErrInvalid", err)
	}

	if err := Delete(path, "http://a.example:9000/listen"); err != nil {
		t.Fatal(err)
	}
	if err := Delete(path, "http://a.example:9000/listen"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete: %v, want ErrNotFound", err)
	}
	cfg, err := List(path)
	if err != nil || len(cfg.Webhooks) != 1 || cfg.Webhooks[0].Token != "t2" || !cfg.Webhooks[0].NoVerify {
		t.Fatalf("List: %+v, %v", cfg, err)
	}
	if m, err := filepath.Glob(filepath.Join(filepath.Dir(path), ".webhooks.json.tmp-*")); err != nil || len(m) != 0 {
		t.Errorf("temporary files left behind: %v %v", m, err)
	}
}

func TestEditKeepsWhatItDoesNotChange(t *testing.T) {
	// Hand-written, with a bare token, a null, unknown keys and odd
	// spacing: untouched webhooks are written back as they were.
	path := writeConfig(t, "{\n  \"http://x/\" : \"tx\",\n  \"http://y/\": {\"secret\": \"sy\", \"note\": [1, 2]},\n  \"http://z/\": null\n}\n")
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	v := []string{"gv1"}
	if err := Modify(path, "http://y/", Change{Volumes: &v}); err != nil {
		t.Fatal(err)
	}
	// A bare token becomes an object.
	if err := Modify(path, "http://x/", Change{NoVerify: new(bool)}); err != nil {
		t.Fatal(err)
	}
	// A null webhook does not exist, and may be added.
	if err := Modify(path, "http://z/", Change{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Modify of a null webhook: %v", err)
	}
	if err := Add(path, Webhook{URL: "http://z/"}); err != nil {
		t.Fatal(err)
	}
	want := `{"http://x/": {"token": "tx", "secret": ""}, ` +
		`"http://y/": {"token": "", "secret": "sy", "glusterbus": {"volumes": ["gv1"]}, "note": [1, 2]}, ` +
		`"http://z/": {"token": "", "secret": ""}}` + "\n"
	if got := readFile(t, path); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("mode not kept: %v, %v", fi.Mode(), err)
	}
}

func TestEditRefusesMalformedFile(t *testing.T) {
	const corrupt = `{}http://a.example/": {"token": "", "secret": ""}}`
	path := writeConfig(t, corrupt)
	if err := Add(path, Webhook{URL: "http://b.example/"}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Add to a corrupt file: %v, want ErrMalformed", err)
	}
	if got := readFile(t, path); got != corrupt {
		t.Errorf("corrupt file was changed to %s", got)
	}
}

// addChildEnv makes TestConcurrentAdd a child process that adds webhooks.
const addChildEnv = "GLUSTERBUS_WEBHOOK_ADD_CHILD"

func concurrentURL(who string, i int) string {
	return fmt.Sprintf("http://127.0.0.1:9/%s/%d", who, i)
}

// TestConcurrentAdd adds webhooks from many goroutines and processes at
// once (gluster/glusterfs#3714): the file must stay valid and hold them all.
func TestConcurrentAdd(t *testing.T) {
	const perAdder = 10
	if path := os.Getenv(addChildEnv); path != "" {
		who := os.Getenv(addChildEnv + "_WHO")
		for i := range perAdder {
			if err := Add(path, Webhook{URL: concurrentURL(who, i), Token: "t-" + who}); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	path := filepath.Join(t.TempDir(), "events", "webhooks.json")
	const goroutines, processes = 12, 6
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*perAdder+processes)
	for p := range processes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestConcurrentAdd$")
			cmd.Env = append(os.Environ(), addChildEnv+"="+path, addChildEnv+"_WHO=proc"+strconv.Itoa(p))
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Errorf("child %d: %v: %s", p, err, out)
			}
		}()
	}
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perAdder {
				if err := Add(path, Webhook{URL: concurrentURL("g"+strconv.Itoa(g), i)}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, w := range cfg.Webhooks {
		seen[w.URL] = true
	}
	for p := range processes {
		for i := range perAdder {
			if u := concurrentURL("proc"+strconv.Itoa(p), i); !seen[u] {
				t.Errorf("missing %s", u)
			}
		}
	}
	for g := range goroutines {
		for i := range perAdder {
			if u := concurrentURL("g"+strconv.Itoa(g), i); !seen[u] {
				t.Errorf("missing %s", u)
			}
		}
	}
	if n := (goroutines + processes) * perAdder; len(cfg.Webhooks) != n {
		t.Errorf("%d webhooks, want %d", len(cfg.Webhooks), n)
	}
}

// TestEditAlongsideGlusterEventsapi runs the installed gluster-eventsapi
// webhook-add, webhook-mod and webhook-del against the same file as our
// Add, concurrently: neither loses the other's changes, and
// gluster-eventsapi keeps our extension.
func TestEditAlongsideGlusterEventsapi(t *testing.T) {
	glusterPython(t)
	if _, err := os.Stat(glusterEventsAPI); err != nil {
		testbed.Missing(t, "%s", "gluster-eventsapi is not installed")
	}
	wd, env := fakeGlusterdWorkdir(t)
	path := filepath.Join(wd, "events", "webhooks.json")
	// gluster-eventsapi creates a missing file without its lock; start
	// with one so that only the locked part races.
	if err := os.WriteFile(path, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	eventsapi := func(args ...string) error {
		cmd := exec.Command(glusterEventsAPI, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		// Exit status 8: written locally, then the sync to peers failed,
		// as it must with no glusterd.
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 8 {
			return nil
		}
		if err != nil {
			return fmt.Errorf("gluster-eventsapi %v: %v: %s", args, err, out)
		}
		return nil
	}

	// Ours keep adding for as long as gluster-eventsapi's run, so that
	// their critical sections overlap.
	const theirs, adders = 8, 4
	var theirWG, ourWG sync.WaitGroup
	errs := make(chan error, theirs+adders)
	done := make(chan struct{})
	added := make([][]string, adders)
	for i := range theirs {
		theirWG.Add(1)
		go func() {
			defer theirWG.Done()
			if err := eventsapi("webhook-add", concurrentURL("eventsapi", i), "-t", "tok"+strconv.Itoa(i)); err != nil {
				errs <- err
			}
		}()
	}
	for a := range adders {
		ourWG.Add(1)
		go func() {
			defer ourWG.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				u := concurrentURL("ours"+strconv.Itoa(a), i)
				if err := Add(path, Webhook{URL: u, Volumes: []string{"gv" + strconv.Itoa(i)}}); err != nil {
					errs <- err
					return
				}
				added[a] = append(added[a], u)
			}
		}()
	}
	theirWG.Wait()
	close(done)
	ourWG.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	n := theirs
	for _, l := range added {
		n += len(l)
		for _, u := range l {
			if _, ok := cfg.Find(u); !ok {
				t.Errorf("our webhook %s is missing", u)
			}
		}
	}
	if len(cfg.Webhooks) != n {
		t.Errorf("%d webhooks, want %d", len(cfg.Webhooks), n)
	}
	for i := range theirs {
		if w, ok := cfg.Find(concurrentURL("eventsapi", i)); !ok || w.Token != "tok"+strconv.Itoa(i) {
			t.Errorf("gluster-eventsapi's webhook %d: %+v, %v", i, w, ok)
		}
	}

	// gluster-eventsapi webhook-mod keeps our settings; webhook-del
	// removes one of ours.
	for _, w := range []string{"mod", "del"} {
		if err := Add(path, Webhook{URL: concurrentURL(w, 1), Volumes: []string{"gv1"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := eventsapi("webhook-mod", concurrentURL("mod", 1), "-t", "newtok"); err != nil {
		t.Fatal(err)
	}
	if err := eventsapi("webhook-del", concurrentURL("del", 1)); err != nil {
		t.Fatal(err)
	}
	if cfg, err = Load(path); err != nil {
		t.Fatal(err)
	}
	if w, ok := cfg.Find(concurrentURL("mod", 1)); !ok || w.Token != "newtok" || len(w.Volumes) != 1 || w.Volumes[0] != "gv1" {
		t.Errorf("after webhook-mod: %+v, %v", w, ok)
	}
	if _, ok := cfg.Find(concurrentURL("del", 1)); ok {
		t.Error("webhook-del did not remove the webhook")
	}
}

// TestModifyKeepsWhatItCannotRead: a webhook paused for a setting the file
// got wrong loses none of its settings, its token or its secret to a
// Modify. A Modify that replaces the wrong value repairs it; one that
// cannot (an unknown key) is refused and changes nothing.
func TestModifyKeepsWhatItCannotRead(t *testing.T) {
	five := 5 * time.Second
	for _, tc := range []struct {
		name, value string
		change      Change
		want        string // "" when Modify must be refused
		refusal     string // in the error
	}{{
		name:   "timeout out of range, replaced",
		value:  `{"glusterbus": {"events": ["VOLUME_*"], "volumes": ["gv0"], "timeout": 99999}, "token": "tk", "secret": "sc"}`,
		change: Change{Timeout: &five},
		want:   `{"token": "tk", "secret": "sc", "glusterbus": {"events": ["VOLUME_*"], "volumes": ["gv0"], "timeout": 5}}`,
	}, {
		name:   "timeout of the wrong type, replaced",
		value:  `{"token": "tk", "secret": "", "glusterbus": {"volumes": ["gv0"], "timeout": "5"}}`,
		change: Change{Timeout: &five},
		want:   `{"token": "tk", "secret": "", "glusterbus": {"volumes": ["gv0"], "timeout": 5}}`,
	}, {
		name:    "unknown key",
		value:   `{"glusterbus": {"events": ["VOLUME_*"], "volumes": ["gv0"], "evnts": ["BRICK_*"]}, "token": "tk", "secret": "sc"}`,
		change:  Change{Timeout: &five},
		refusal: `unknown field "evnts"`,
	}, {
		name:    "wrong value left as it is",
		value:   `{"token": "tk", "secret": "", "glusterbus": {"events": ["VOLUME_*"], "timeout": -1}}`,
		change:  Change{Volumes: &[]string{"gv1"}},
		refusal: "timeout",
	}, {
		name:    "settings not an object",
		value:   `{"token": "tk", "secret": "", "glusterbus": ["VOLUME_*"]}`,
		change:  Change{Timeout: &five},
		refusal: `"glusterbus" must be an object`,
	}, {
		name:   "unknown settings kept in their place, a new one where it belongs",
		value:  `{"token": "tk", "secret": "sc", "glusterbus": {"volumes": ["gv0"], "timeout": 2}, "note": 1}`,
		change: Change{Events: &[]string{"BRICK_*"}, Timeout: new(time.Duration)},
		want:   `{"token": "tk", "secret": "sc", "glusterbus": {"events": ["BRICK_*"], "volumes": ["gv0"]}, "note": 1}`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			const u = "http://paused.example/hook"
			file := `{"` + u + `": ` + tc.value + "}"
			path := writeConfig(t, file)
			err := Modify(path, u, tc.change)
			if tc.want == "" {
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.refusal) {
					t.Fatalf("Modify: %v, want ErrInvalid naming %s", err, tc.refusal)
				}
				if got := readFile(t, path); got != file {
					t.Errorf("refused Modify changed the file to %s", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, want := readFile(t, path), `{"`+u+`": `+tc.want+"}\n"; got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
}

// TestDecodeKeepsCredentialsOfUnusableWebhook: settings that do not parse
// before the token and secret do not hide them.
func TestDecodeKeepsCredentialsOfUnusableWebhook(t *testing.T) {
	w, err := decodeWebhook("http://x/", []byte(`{"glusterbus": {"bogus": 1}, "token": "tk", "secret": "sc"}`))
	if !errors.Is(err, ErrInvalid) || w.Token != "tk" || w.Secret != "sc" {
		t.Errorf("decodeWebhook: %+v, %v", w, err)
	}
}
