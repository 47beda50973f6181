package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/daemon"
	"github.com/glusterbus/glusterbus/internal/testbed"
	"github.com/glusterbus/glusterbus/internal/testbus"
	"github.com/glusterbus/glusterbus/internal/webhook"
)

// glusterbus runs the command line in this process, as main does, and
// returns its standard output, its error output and its exit status.
func glusterbus(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	root := newRoot()
	root.SetArgs(args)
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := root.ExecuteContext(ctx); err != nil {
		stderr.WriteString("glusterbus: " + err.Error() + "\n")
		return stdout.String(), stderr.String(), exitCode(err)
	}
	return stdout.String(), stderr.String(), 0
}

// mustExit runs glusterbus and fails the test unless it exits with code.
func mustExit(t *testing.T, code int, args ...string) string {
	t.Helper()
	out, errOut, got := glusterbus(t, args...)
	if got != code {
		t.Fatalf("glusterbus %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), got, code, out, errOut)
	}
	return out + errOut
}

// fakeWorkdir is a directory standing for glusterd's working directory,
// with the node's glusterd.info.
func fakeWorkdir(t *testing.T, uuid string) string {
	t.Helper()
	wd := t.TempDir()
	if err := os.WriteFile(filepath.Join(wd, "glusterd.info"), []byte("UUID="+uuid+"\noperating-version=100000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return wd
}

func loadWebhooks(t *testing.T, file string) *webhook.Config {
	t.Helper()
	c, err := webhook.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestWebhookEditCommands runs add, mod, del and list on this node's file
// and checks their output and gluster-eventsapi's exit codes.
func TestWebhookEditCommands(t *testing.T) {
	wd := fakeWorkdir(t, "0b8d4c4e-3a43-4a7e-9f55-2b0f7fb1c1a1")
	file := filepath.Join(wd, "events", "webhooks.json")
	local := []string{"--glusterd-workdir", wd, "--local"}
	const u = "http://hooks.example:9000/listen"

	mustExit(t, 0, append([]string{"webhook", "add", u, "-t", "tok-SECRET", "--events", "VOLUME_*"}, local...)...)
	if w, ok := loadWebhooks(t, file).Find(u); !ok || w.Token != "tok-SECRET" || len(w.Events) != 1 {
		t.Fatalf("after add: %+v, %v", w, ok)
	}
	mustExit(t, 5, append([]string{"webhook", "add", u}, local...)...)
	mustExit(t, 1, append([]string{"webhook", "add", "gopher://hooks.example/"}, local...)...)

	mustExit(t, 0, append([]string{"webhook", "mod", u, "--volumes", "gv0", "--timeout", "5s"}, local...)...)
	if w, _ := loadWebhooks(t, file).Find(u); w.Token != "tok-SECRET" || len(w.Events) != 1 || len(w.Volumes) != 1 || w.Timeout != 5*time.Second {
		t.Fatalf("after mod: %+v", w)
	}
	mustExit(t, 6, append([]string{"webhook", "mod", "http://nowhere.example/", "-t", "x"}, local...)...)
	mustExit(t, 1, append([]string{"webhook", "mod", u, "--sources", "nativ"}, local...)...)

	// A password in a URL is never shown.
	mustExit(t, 0, append([]string{"webhook", "add", "https://user:pa55word@jwt.example/in", "-s", "sec-SECRET", "--no-verify"}, local...)...)
	out := mustExit(t, 0, "webhook", "list", "--glusterd-workdir", wd)
	for _, want := range []string{u, "token", "VOLUME_*", "gv0", "https://user:xxxxx@jwt.example/in", "jwt"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{"pa55word", "tok-SECRET", "sec-SECRET"} {
		if strings.Contains(out, secret) {
			t.Errorf("list shows %q:\n%s", secret, out)
		}
	}

	mustExit(t, 0, append([]string{"webhook", "del", u}, local...)...)
	mustExit(t, 6, append([]string{"webhook", "del", u}, local...)...)
	if _, ok := loadWebhooks(t, file).Find(u); ok {
		t.Error("del left the webhook")
	}
}

// TestWebhookSyncFailure: without --local, a change whose copy to the other
// nodes fails keeps the local change and exits 8, as gluster-eventsapi
// does; a --webhooks-file that is not the file gluster copies is refused
// before anything changes.
func TestWebhookSyncFailure(t *testing.T) {
	wd := fakeWorkdir(t, "0b8d4c4e-3a43-4a7e-9f55-2b0f7fb1c1a1")
	file := filepath.Join(wd, "events", "webhooks.json")
	const u = "http://hooks.example/in"
	// "false" stands for a gluster that cannot reach glusterd.
	out := mustExit(t, 8, "webhook", "add", u, "--glusterd-workdir", wd, "--gluster", "false")
	if !strings.Contains(out, "this node's file is changed") {
		t.Errorf("the error does not say the local change was made: %s", out)
	}
	if _, ok := loadWebhooks(t, file).Find(u); !ok {
		t.Error("the local change was not made")
	}
	// The same file named by --webhooks-file is still the one copied.
	mustExit(t, 8, "webhook", "del", u, "--glusterd-workdir", wd, "--webhooks-file", file, "--gluster", "false")

	other := filepath.Join(t.TempDir(), "webhooks.json")
	out = mustExit(t, 1, "webhook", "add", u, "--glusterd-workdir", wd, "--webhooks-file", other, "--gluster", "false")
	if !strings.Contains(out, "--local") {
		t.Errorf("the refusal does not point to --local: %s", out)
	}
	if _, err := os.Stat(other); !os.IsNotExist(err) {
		t.Errorf("the refused change wrote %s: %v", other, err)
	}
	mustExit(t, 0, "webhook", "add", u, "--webhooks-file", other, "--local")
}

// sampleReceiver records the sample events it gets.
type sampleReceiver struct {
	mu     sync.Mutex
	bodies [][]byte
	auth   []string
}

func (r *sampleReceiver) handler(status int) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies = append(r.bodies, body)
		r.auth = append(r.auth, req.Header.Get("Authorization"))
		r.mu.Unlock()
		w.WriteHeader(status)
	}
}

func (r *sampleReceiver) last(t *testing.T) (map[string]any, string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bodies) == 0 {
		t.Fatal("no request received")
	}
	var body map[string]any
	if err := json.Unmarshal(r.bodies[len(r.bodies)-1], &body); err != nil {
		t.Fatal(err)
	}
	return body, r.auth[len(r.auth)-1]
}

// TestWebhookTestCommand: webhook test sends this node's UUID, uses a
// configured webhook's settings with the command line's flags overriding
// them, and exits 3 (gluster-eventsapi: no node's test passed) without a
// 2xx answer.
func TestWebhookTestCommand(t *testing.T) {
	const uuid = "7c0f2d8e-5b1a-4c3e-8f6d-9a2b4c6d8e0f"
	wd := fakeWorkdir(t, uuid)
	file := filepath.Join(wd, "events", "webhooks.json")
	var rc sampleReceiver
	ok := httptest.NewServer(rc.handler(http.StatusOK))
	defer ok.Close()

	out := mustExit(t, 0, "webhook", "test", ok.URL+"/a", "--glusterd-workdir", wd)
	if !strings.Contains(out, "HTTP 200") {
		t.Errorf("output: %s", out)
	}
	body, _ := rc.last(t)
	if body["nodeid"] != uuid || body["event"] != webhook.SampleEventName {
		t.Errorf("sample event %v, want nodeid %s", body, uuid)
	}

	// A configured webhook's token, unless -t says otherwise.
	if err := webhook.Add(file, webhook.Webhook{URL: ok.URL + "/b", Token: "configured"}); err != nil {
		t.Fatal(err)
	}
	mustExit(t, 0, "webhook", "test", ok.URL+"/b", "--glusterd-workdir", wd)
	if _, auth := rc.last(t); auth != "Bearer configured" {
		t.Errorf("Authorization %q, want the configured token", auth)
	}
	mustExit(t, 0, "webhook", "test", ok.URL+"/b", "--glusterd-workdir", wd, "-t", "given")
	if _, auth := rc.last(t); auth != "Bearer given" {
		t.Errorf("Authorization %q, want the token given", auth)
	}

	// Refusals and no answer.
	refusing := httptest.NewServer(rc.handler(http.StatusInternalServerError))
	defer refusing.Close()
	mustExit(t, 3, "webhook", "test", refusing.URL, "--glusterd-workdir", wd)
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	mustExit(t, 3, "webhook", "test", gone.URL, "--glusterd-workdir", wd)
	mustExit(t, 1, "webhook", "test", "gopher://x/", "--glusterd-workdir", wd)

	// --no-verify and --timeout override a configured webhook's settings.
	tlsSrv := httptest.NewTLSServer(rc.handler(http.StatusOK))
	defer tlsSrv.Close()
	if err := webhook.Add(file, webhook.Webhook{URL: tlsSrv.URL}); err != nil {
		t.Fatal(err)
	}
	mustExit(t, 3, "webhook", "test", tlsSrv.URL, "--glusterd-workdir", wd)
	mustExit(t, 0, "webhook", "test", tlsSrv.URL, "--glusterd-workdir", wd, "--no-verify")

	release := make(chan struct{})
	stalled := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		select {
		case <-release:
		case <-req.Context().Done():
		}
	}))
	defer stalled.Close()
	defer close(release)
	if err := webhook.Add(file, webhook.Webhook{URL: stalled.URL, Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	// The error names the timeout that ended the wait: 300ms, not the
	// configured minute.
	out = mustExit(t, 3, "webhook", "test", stalled.URL, "--glusterd-workdir", wd, "--timeout", "300ms")
	if !strings.Contains(out, "300ms") {
		t.Errorf("test with --timeout 300ms: %s", out)
	}
}

// glusterPrefix is a node's gluster CLI prefix as a --gluster value.
func glusterPrefix(n *testbed.Node) string {
	words := n.CLI()
	for i, w := range words {
		words[i] = "'" + w + "'"
	}
	return strings.Join(words, " ")
}

// TestWebhookSyncToPeers: on a real 3-node cluster, add, mod and del on
// node 1 reach the files of nodes 2 and 3 through gluster system:: copy
// file; a node that cannot take the copy makes the command exit 8.
func TestWebhookSyncToPeers(t *testing.T) {
	c := testbed.Start(t, 3)
	n1 := c.Nodes[0]
	// Each node's glusterbus serve makes <workdir>/events at start.
	for _, n := range c.Nodes[1:] {
		if err := os.Mkdir(filepath.Join(n.Workdir, "events"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	peerHook := func(n *testbed.Node, u string) (webhook.Webhook, bool) {
		return loadWebhooks(t, filepath.Join(n.Workdir, "events", "webhooks.json")).Find(u)
	}
	const u = "http://hooks.example:9000/listen"
	gl := glusterPrefix(n1)

	mustExit(t, 0, "webhook", "add", u, "-t", "tok", "--volumes", "gv0", "--gluster", gl)
	for _, n := range c.Nodes {
		if w, ok := peerHook(n, u); !ok || w.Token != "tok" || len(w.Volumes) != 1 {
			t.Errorf("node %d after add: %+v, %v", n.Index, w, ok)
		}
	}
	mustExit(t, 0, "webhook", "mod", u, "--events", "BRICK_*", "--gluster", gl)
	for _, n := range c.Nodes {
		if w, _ := peerHook(n, u); len(w.Events) != 1 || len(w.Volumes) != 1 {
			t.Errorf("node %d after mod: %+v", n.Index, w)
		}
	}
	mustExit(t, 0, "webhook", "add", u+"/local", "--local", "--gluster", gl)
	if _, ok := peerHook(c.Nodes[1], u+"/local"); ok {
		t.Error("--local copied the file")
	}
	mustExit(t, 0, "webhook", "del", u, "--gluster", gl)
	for _, n := range c.Nodes {
		if _, ok := peerHook(n, u); ok {
			t.Errorf("node %d still has the webhook after del", n.Index)
		}
	}

	if err := os.Remove(filepath.Join(c.Nodes[2].Workdir, "events", "webhooks.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(c.Nodes[2].Workdir, "events")); err != nil {
		t.Fatal(err)
	}
	mustExit(t, 8, "webhook", "add", u, "--gluster", gl)
	if _, ok := peerHook(n1, u); !ok {
		t.Error("the local change was not made")
	}
}

// TestWebhookStatusCommand: webhook status shows what the running daemon
// reports; without a daemon it fails.
func TestWebhookStatusCommand(t *testing.T) {
	c := testbed.Start(t, 1)
	n := c.Nodes[0]
	addr := testbus.Start(t)
	rc := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer rc.Close()
	mustExit(t, 0, "webhook", "add", rc.URL+"/status", "--glusterd-workdir", n.Workdir, "--local")

	out, errOut, code := glusterbus(t, "webhook", "status", "--bus", addr)
	if code != 1 || !strings.Contains(errOut, "reading the webhooks' state") {
		t.Errorf("status without a daemon: exit %d\n%s%s", code, out, errOut)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Config{Bus: addr, Gluster: n.CLI(), GlusterdWorkdir: n.Workdir, StateDir: t.TempDir(),
			Interval: time.Hour, QuietPeriod: 200 * time.Millisecond, CLITimeout: 20 * time.Second, EventsPort: -1, NoWatch: true,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, errOut, code = glusterbus(t, "webhook", "status", "--bus", addr)
		if code == 0 && strings.Contains(out, rc.URL+"/status") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never showed the webhook: exit %d\n%s%s", code, out, errOut)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(out, "URL") || !strings.Contains(out, " ok ") {
		t.Errorf("status output:\n%s", out)
	}
}
