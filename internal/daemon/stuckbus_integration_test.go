package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/daemon"
	"github.com/glusterbus/glusterbus/internal/exporter"
	"github.com/glusterbus/glusterbus/internal/gluster"
	"github.com/glusterbus/glusterbus/internal/nativeevents"
	"github.com/glusterbus/glusterbus/internal/objpath"
	"github.com/glusterbus/glusterbus/internal/testbed"
	"github.com/glusterbus/glusterbus/internal/testbus"
	"github.com/glusterbus/glusterbus/internal/webhook"
)

// outage is how long TestStuckBusStallsNothing keeps the bus stopped: twice
// the exporter's write timeout (5 s), so the stall is seen, the connection
// cut and a reconnect left waiting on the stopped bus; a longer stop shows
// nothing more and costs CI time. GLUSTERBUS_BUS_OUTAGE (e.g. 30s) sets
// another.
func outage(t *testing.T) time.Duration {
	s := os.Getenv("GLUSTERBUS_BUS_OUTAGE")
	if s == "" {
		return 10 * time.Second
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("GLUSTERBUS_BUS_OUTAGE: %v", err)
	}
	return d
}

// hookReceiver records the events POSTed to a webhook: the native events'
// ids and the other events' names with their volume.
type hookReceiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	ids   map[string]bool
	names []string
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{ids: map[string]bool{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var ev struct {
			Event   string         `json:"event"`
			Message map[string]any `json:"message"`
		}
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("webhook body %q: %v", body, err)
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if id, ok := ev.Message["id"].(string); ok && ev.Event == "CLIENT_CONNECT" {
			r.ids[id] = true
			return
		}
		r.names = append(r.names, fmt.Sprintf("%s %v", ev.Event, ev.Message["name"]))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hookReceiver) got(id int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ids[fmt.Sprint(id)]
}

func (r *hookReceiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ids)
}

func (r *hookReceiver) saw(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.names, name)
}

// TestStuckBusStallsNothing stops the dbus-daemon (SIGSTOP) while 5000
// native events arrive and a volume is created: every event is journaled
// and reaches a webhook while the bus is stopped, the volume's creation
// among them; once the bus runs again, a client sees the objects `gluster
// volume info` shows and every event through GetEvents.
func TestStuckBusStallsNothing(t *testing.T) {
	testbed.Require(t)
	c := testbed.Start(t, 2)
	n1 := c.Nodes[0]
	addr, busPid := testbus.StartProcess(t)
	recv := newHookReceiver(t)
	hooksFile := filepath.Join(t.TempDir(), "webhooks.json")
	if err := webhook.Add(hooksFile, webhook.Webhook{URL: recv.srv.URL + "/hook", Sources: []string{webhook.SourceNative, webhook.SourceDiff}}); err != nil {
		t.Fatal(err)
	}
	logs := &testbus.Buffer{}
	port := freeUDPPort(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Config{Bus: addr, Gluster: n1.CLI(), GlusterdWorkdir: n1.Workdir,
			StateDir: t.TempDir(), Interval: time.Second, QuietPeriod: 500 * time.Millisecond, CLITimeout: 20 * time.Second,
			EventsPort: port, EventsAddrs: []string{"127.0.0.1"}, EventsRate: -1, WebhooksFile: hooksFile,
			Logger: slog.New(slog.NewTextHandler(logs, nil))})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs)
		}
	})
	client := waitOwner(t, addr, 60*time.Second)
	t.Cleanup(func() { client.Close() })
	h := newHarness(t, c, client)

	thaw := testbus.Freeze(t, busPid)
	frozen := time.Now()
	const events = 5000
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		sendPaced(t, port, events, 1000)
	}()
	n1.Gluster(t, "volume", "create", "stuck", n1.Addr+":"+c.BrickDir(1, "stuck"), c.Nodes[1].Addr+":"+c.BrickDir(2, "stuck"), "force")

	t.Cleanup(func() {
		if t.Failed() {
			recv.mu.Lock()
			t.Logf("the webhook got %d native events and %q", len(recv.ids), recv.names)
			recv.mu.Unlock()
		}
	})
	h.waitFor("every event at the webhook while the bus is stopped", 2*time.Minute, func() bool {
		return recv.count() == events && recv.saw("VOLUME_CREATE stuck")
	})
	delivered := time.Since(frozen)
	<-sent
	for i := range events {
		if !recv.got(i) {
			t.Fatalf("event %d never reached the webhook", i)
		}
	}
	h.waitFor("the daemon to notice the stopped bus", time.Minute, func() bool {
		return strings.Contains(logs.String(), "has not taken a signal") || strings.Contains(logs.String(), "the queue is full")
	})
	if held := time.Since(frozen); held < outage(t) {
		time.Sleep(outage(t) - held) // the length of the outage, not a wait for anything
	}
	t.Logf("bus stopped for %v; %d events and the volume's creation reached the webhook %v after it stopped",
		time.Since(frozen).Round(time.Millisecond), recv.count(), delivered.Round(time.Millisecond))
	thaw()
	thawed := time.Now()

	// The client's view, once the daemon owns its name again, is the
	// cluster's.
	want := clusterObjects(t, n1)
	var got []string
	h.waitFor("the bus to show what gluster volume info shows", time.Minute, func() bool {
		got = busObjects(t, client)
		return slices.Equal(got, want)
	})
	t.Logf("%v after the bus came back, a client sees the %d volume and brick objects gluster shows",
		time.Since(thawed).Round(time.Millisecond), len(want))

	evs := h.getEvents(0)
	seen := map[string]bool{}
	for _, e := range evs {
		if e.Fields["source"] == "native" && e.Fields["id"] != "" {
			seen[e.Fields["id"]] = true
		}
	}
	if len(seen) != events {
		t.Fatalf("GetEvents after the outage: %d of the %d native events", len(seen), events)
	}
}

// sendPaced sends n native CLIENT_CONNECT events with ids 0..n-1 at about
// perSecond.
func sendPaced(t *testing.T, port, n, perSecond int) {
	num, _ := nativeevents.Number("CLIENT_CONNECT")
	conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Error(err)
		return
	}
	defer conn.Close()
	began := time.Now()
	for sent := 0; sent < n; {
		for due := min(n, int(time.Since(began).Seconds()*float64(perSecond))); sent < due; sent++ {
			fmt.Fprintf(conn, "%d %d client_identifier=127.0.0.1:%d;id=%d", time.Now().Unix(), num, 40000+sent%20000, sent)
		}
		time.Sleep(time.Millisecond)
	}
}

// clusterObjects lists the volume and brick object paths `gluster volume
// info` implies, sorted.
func clusterObjects(t *testing.T, n *testbed.Node) []string {
	t.Helper()
	cli := &gluster.CLI{Command: n.CLI(), Timeout: 30 * time.Second}
	vols, err := cli.VolumeInfo(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, v := range vols {
		out = append(out, string(volPath(v.Name)))
		for _, b := range v.Bricks {
			out = append(out, string(exporter.BrickPrefix+dbus.ObjectPath(objpath.Encode(b.Name))))
		}
	}
	slices.Sort(out)
	return out
}

// busObjects lists the volume and brick objects a client sees, sorted.
func busObjects(t *testing.T, client *dbus.Conn) []string {
	t.Helper()
	var objs map[dbus.ObjectPath]map[string]map[string]dbus.Variant
	call := client.Object(exporter.BusName, exporter.RootPath).Call("org.freedesktop.DBus.ObjectManager.GetManagedObjects", 0)
	if call.Err != nil || call.Store(&objs) != nil {
		return nil // not served (yet)
	}
	var out []string
	for p := range objs {
		if strings.HasPrefix(string(p), string(exporter.VolumePrefix)) || strings.HasPrefix(string(p), string(exporter.BrickPrefix)) {
			out = append(out, string(p))
		}
	}
	slices.Sort(out)
	return out
}
