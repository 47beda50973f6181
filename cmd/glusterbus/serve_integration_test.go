package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/busapi"
	"github.com/glusterbus/glusterbus/internal/hooks"
	"github.com/glusterbus/glusterbus/internal/journal"
	"github.com/glusterbus/glusterbus/internal/nativeevents"
	"github.com/glusterbus/glusterbus/internal/testbed"
	"github.com/glusterbus/glusterbus/internal/testbus"
	"github.com/glusterbus/glusterbus/internal/webhook"
)

// TestServeReloadAndShutdown runs the built binary as `glusterbus serve`:
// SIGHUP applies the configuration file's manage_group and keeps the
// running configuration when the file is malformed; SIGTERM, while native
// events keep coming, exits 0 with every signalled event journaled, the
// webhook's position stored and the hook scripts untouched.
func TestServeReloadAndShutdown(t *testing.T) {
	if os.Geteuid() != 0 {
		testbed.Missing(t, "the serve test runs as root (it calls the daemon as another user)")
	}
	for _, tool := range []string{"gdbus", "setpriv", "groupadd", "groupdel", "useradd", "userdel"} {
		if _, err := exec.LookPath(tool); err != nil {
			testbed.Missing(t, "%s is needed: %v", tool, err)
		}
	}
	bin := filepath.Join(t.TempDir(), "glusterbus")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building glusterbus: %v\n%s", err, out)
	}
	group, member := testbed.Accounts(t, "gbserve")
	addr := testbus.StartOpen(t)
	dir := t.TempDir()

	workdir := filepath.Join(dir, "glusterd")
	if err := os.MkdirAll(workdir, 0o755); err != nil {
		t.Fatal(err)
	}
	hookFiles, err := hooks.Install(hooks.Options{Workdir: workdir, Binary: bin, Bus: addr})
	if err != nil {
		t.Fatal(err)
	}
	hookContents := readFiles(t, hookFiles)

	recv := newReceiver(t)
	hooksFile := filepath.Join(dir, "webhooks.json")
	if err := webhook.Add(hooksFile, webhook.Webhook{URL: recv.URL()}); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "glusterbus.conf")
	writeConfig(t, conf, `{}`)
	stateDir := filepath.Join(dir, "state")
	port := freeUDPPort(t)

	logs := &testbus.Buffer{}
	cmd := exec.Command(bin, "serve", "--bus", addr, "--gluster", "false", "--glusterd-socket", "", "--glusterd-workdir", workdir,
		"--state-dir", stateDir, "--config", conf, "--interval", "1h", "--cli-timeout", "5s",
		"--events-port", strconv.Itoa(port), "--events-rate", "-1", "--webhooks-file", hooksFile)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var exitErr error
	exited := make(chan struct{})
	go func() { exitErr = cmd.Wait(); close(exited) }()
	running := func() bool {
		select {
		case <-exited:
			return false
		default:
			return true
		}
	}
	t.Cleanup(func() {
		if running() {
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("glusterbus serve:\n%s", logs.String())
		}
	})

	client, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	signalled := collectEvents(t, client)
	waitUntil(t, "the daemon owns its name", 30*time.Second, func() bool {
		var has bool
		return client.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, busapi.BusName).Store(&has) == nil && has
	})

	// Reload answers Failed for whoever passes authorization: the gluster
	// command is `false`.
	memberReload := func() string {
		out, _ := exec.Command("setpriv", "--reuid="+member, "--regid="+member, "--init-groups",
			"gdbus", "call", "--address", addr, "--dest", busapi.BusName, "--object-path", string(busapi.ManagerPath),
			"--method", busapi.ManagerInterface+".Reload", "{}").CombinedOutput()
		for _, name := range []string{busapi.ErrorNotAuthorized, busapi.ErrorFailed} {
			if strings.Contains(string(out), name) {
				return name
			}
		}
		return string(out)
	}
	hangup := func() {
		t.Helper()
		if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	if got := memberReload(); got != busapi.ErrorNotAuthorized {
		t.Fatalf("the group member before the group is configured: %s", got)
	}
	writeConfig(t, conf, fmt.Sprintf(`{"manage_group": %q}`, group))
	hangup()
	waitUntil(t, "the group member allowed after SIGHUP", 30*time.Second, func() bool { return memberReload() == busapi.ErrorFailed })

	writeConfig(t, conf, `{"manage_group": `)
	hangup()
	waitUntil(t, "the error about the malformed file", 30*time.Second, func() bool {
		return strings.Contains(logs.String(), "configuration not reloaded")
	})
	if got := memberReload(); got != busapi.ErrorFailed {
		t.Fatalf("the group member after a malformed configuration: %s (want the running configuration kept)", got)
	}
	if !running() {
		t.Fatalf("serve exited on SIGHUP with a malformed configuration: %v", exitErr)
	}

	writeConfig(t, conf, `{}`)
	hangup()
	waitUntil(t, "the group member refused again after SIGHUP", 30*time.Second, func() bool { return memberReload() == busapi.ErrorNotAuthorized })

	// Native events keep coming; SIGTERM arrives in the middle of them.
	stopSending := sendEvents(t, port)
	waitUntil(t, "events signalled and delivered", 60*time.Second, func() bool {
		return signalled.count() >= 200 && recv.count() >= 20
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	select {
	case <-exited:
		if exitErr != nil {
			t.Fatalf("serve after SIGTERM: %v", exitErr)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("serve still running 60s after SIGTERM")
	}
	stopSending()
	t.Logf("exited %v after SIGTERM; %d events signalled, %d webhook POSTs", time.Since(began).Round(time.Millisecond), signalled.count(), recv.count())
	if !strings.Contains(logs.String(), "stopping") {
		t.Errorf("serve did not log that it stops")
	}

	j, err := journal.Open(filepath.Join(stateDir, "journal.db"), journal.Options{})
	if err != nil {
		t.Fatalf("the journal does not reopen: %v", err)
	}
	defer j.Close()
	ids := journaledIDs(t, j)
	for seq, id := range signalled.all() {
		if got, ok := ids[seq]; !ok || got != id {
			t.Fatalf("signalled event %d (id %s) is journaled as %q (present %v)", seq, id, got, ok)
		}
	}

	cursor, err := j.Cursor(webhook.CursorName(recv.URL()))
	if err != nil {
		t.Fatal(err)
	}
	seqOf := map[string]uint64{}
	for seq, id := range ids {
		seqOf[id] = seq
	}
	var highest uint64
	received := map[uint64]bool{}
	for _, id := range recv.ids() {
		received[seqOf[id]] = true
		highest = max(highest, seqOf[id])
	}
	// At most the POST in flight at SIGTERM was received without the
	// daemon seeing its answer.
	if cursor == 0 || cursor+1 < highest || cursor > j.LastSeq() {
		t.Fatalf("stored webhook cursor %d; the receiver got up to %d, the journal has %d", cursor, highest, j.LastSeq())
	}
	for seq := uint64(1); seq <= cursor; seq++ {
		if !received[seq] {
			t.Fatalf("the stored cursor is %d but event %d never reached the receiver", cursor, seq)
		}
	}

	if after := readFiles(t, hookFiles); fmt.Sprint(after) != fmt.Sprint(hookContents) {
		t.Fatalf("hook scripts changed by serve's shutdown:\nbefore %v\nafter  %v", hookContents, after)
	}
	if installed, err := hooks.Installed(workdir); err != nil || len(installed) != len(hookFiles) {
		t.Fatalf("hook scripts after shutdown: %v %v, want %v", installed, err, hookFiles)
	}
}

// journaledIDs reads the whole journal, checks that its sequence numbers
// run from 1 without gap, and returns each event's id field.
func journaledIDs(t *testing.T, j *journal.Journal) map[uint64]string {
	t.Helper()
	ids := map[uint64]string{}
	var last uint64
	for {
		evs, err := j.Range(last, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			if e.Seq != last+1 {
				t.Fatalf("journal gap: event %d after %d", e.Seq, last)
			}
			last = e.Seq
			for _, f := range e.Fields {
				if f.Key == "id" {
					ids[e.Seq] = f.Value
				}
			}
		}
	}
	if last != j.LastSeq() || last == 0 {
		t.Fatalf("journal read up to %d, LastSeq %d", last, j.LastSeq())
	}
	return ids
}

// eventLog is the Event signals a client received: seq to id field.
type eventLog struct {
	mu   sync.Mutex
	byID map[uint64]string
}

func (l *eventLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.byID)
}

func (l *eventLog) all() map[uint64]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[uint64]string, len(l.byID))
	for k, v := range l.byID {
		out[k] = v
	}
	return out
}

func collectEvents(t *testing.T, client *dbus.Conn) *eventLog {
	t.Helper()
	if err := client.AddMatchSignal(dbus.WithMatchMember("Event"), dbus.WithMatchInterface(busapi.ManagerInterface)); err != nil {
		t.Fatal(err)
	}
	sigs := make(chan *dbus.Signal, 1<<16)
	client.Signal(sigs)
	l := &eventLog{byID: map[uint64]string{}}
	go func() {
		for s := range sigs {
			if s.Name != busapi.ManagerInterface+".Event" || len(s.Body) != 6 {
				continue
			}
			seq, _ := s.Body[0].(uint64)
			fields, _ := s.Body[5].(map[string]string)
			l.mu.Lock()
			if prev, dup := l.byID[seq]; dup {
				t.Errorf("event %d signalled twice (ids %s, %s)", seq, prev, fields["id"])
			}
			l.byID[seq] = fields["id"]
			l.mu.Unlock()
		}
	}()
	return l
}

// sendEvents sends native CLIENT_CONNECT events, each with its own id,
// until the returned function is called.
func sendEvents(t *testing.T, port int) (stop func()) {
	t.Helper()
	num, _ := nativeevents.Number("CLIENT_CONNECT")
	conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ctx.Err() == nil; i++ {
			fmt.Fprintf(conn, "%d %d client_identifier=127.0.0.1:%d;id=%d", time.Now().Unix(), num, i, i)
			time.Sleep(time.Millisecond)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done; conn.Close() }) }
	t.Cleanup(stop)
	return stop
}

// receiver is a webhook endpoint that records the id of every event POSTed.
type receiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []string
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var ev struct {
			Message map[string]any `json:"message"`
		}
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("webhook body %q: %v", body, err)
		}
		r.mu.Lock()
		r.got = append(r.got, fmt.Sprint(ev.Message["id"]))
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) URL() string { return r.srv.URL + "/hook" }

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

func (r *receiver) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

func writeConfig(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFiles(t *testing.T, paths []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[p] = string(b)
	}
	return out
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

func waitUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
