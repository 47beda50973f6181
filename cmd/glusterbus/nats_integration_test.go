package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/glusterbus/glusterbus/internal/busclient"
	"github.com/glusterbus/glusterbus/internal/exporter"
	"github.com/glusterbus/glusterbus/internal/journal"
	"github.com/glusterbus/glusterbus/internal/natsstream"
	"github.com/glusterbus/glusterbus/internal/testbed"
	"github.com/glusterbus/glusterbus/internal/testbus"
	"github.com/glusterbus/glusterbus/internal/webhook"
)

// natsNode is one `glusterbus serve` process with the cluster stream
// beside one glusterd of the cluster.
type natsNode struct {
	t        *testing.T
	bin      string
	node     *testbed.Node
	stateDir string
	hooks    string   // the webhooks file
	natsArgs []string // --nats-embedded ... or --nats URLs
	bus      string
	logs     *testbus.Buffer
	cmd      *exec.Cmd
	exited   chan struct{}
}

func (n *natsNode) start() {
	n.t.Helper()
	n.cmd = exec.Command(n.bin, "serve", "--bus", n.bus, "--gluster", strings.Join(n.node.CLI(), " "),
		"--glusterd-workdir", n.node.Workdir, "--state-dir", n.stateDir, "--config", filepath.Join(n.stateDir, "none.conf"),
		"--interval", "1s", "--no-events", "--webhooks-file", n.hooks)
	n.cmd.Args = append(n.cmd.Args, n.natsArgs...)
	n.cmd.Stdout, n.cmd.Stderr = n.logs, n.logs
	if err := n.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	n.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) { _ = cmd.Wait(); close(exited) }(n.cmd, n.exited)
}

// kill ends the process at once, its embedded server with it.
func (n *natsNode) kill() {
	_ = n.cmd.Process.Kill()
	<-n.exited
}

func (n *natsNode) running() bool {
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// journaled returns the volume_version of the VOLUME_SET of user.nats=value
// in the daemon's journal, read over its bus, and whether there is one.
func (n *natsNode) journaled(value string) (string, bool) {
	conn, err := dbus.Connect(n.bus)
	if err != nil {
		return "", false
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	version, found := "", false
	_ = busclient.Events(ctx, conn, 0, false, func(ev busclient.Event) error {
		if ev.Name == "VOLUME_SET" && ev.Fields["option.user.nats"] == value {
			version, found = ev.Fields["volume_version"], true
		}
		return nil
	})
	return version, found
}

// streamStatus reads the manager's ClusterStream, ClusterStreamCursor and
// LastSequence over the daemon's bus.
func (n *natsNode) streamStatus() (state string, cursor, last uint64, err error) {
	conn, err := dbus.Connect(n.bus)
	if err != nil {
		return "", 0, 0, err
	}
	defer conn.Close()
	mgr := conn.Object(exporter.BusName, exporter.ManagerPath)
	if err = mgr.StoreProperty(exporter.ManagerInterface+".ClusterStream", &state); err != nil {
		return
	}
	if err = mgr.StoreProperty(exporter.ManagerInterface+".ClusterStreamCursor", &cursor); err != nil {
		return
	}
	err = mgr.Call(exporter.ManagerInterface+".LastSequence", 0, map[string]dbus.Variant{}).Store(&last)
	return
}

// caughtUp: the daemon publishes, and the stream has acknowledged
// everything it journaled.
func (n *natsNode) caughtUp() bool {
	state, cursor, last, err := n.streamStatus()
	return err == nil && state == "connected" && cursor >= last
}

// unpublished returns, once the daemon has stopped, the events of its
// journal whose ids the stream does not hold, and its publishing cursor.
func (n *natsNode) unpublished(ids map[string]int) ([]journal.Event, uint64) {
	n.t.Helper()
	cluster := clusterID(n.t, n)
	j, err := journal.Open(filepath.Join(n.stateDir, "journal.db"), journal.Options{})
	if err != nil {
		n.t.Fatal(err)
	}
	defer j.Close()
	cursor, err := j.Cursor(natsstream.CursorName)
	if err != nil {
		n.t.Fatal(err)
	}
	var missing []journal.Event
	for since := uint64(0); ; {
		evs, err := j.Range(since, 1000)
		if err != nil {
			n.t.Fatal(err)
		}
		if len(evs) == 0 {
			return missing, cursor
		}
		for _, ev := range evs {
			if ids[natsstream.MsgID(cluster, ev)] == 0 {
				missing = append(missing, ev)
			}
			since = ev.Seq
		}
	}
}

// clusterID is the pool's id as the daemon derived it.
func clusterID(t *testing.T, n *natsNode) string {
	t.Helper()
	var b []byte
	waitUntil(t, "the cluster id", 60*time.Second, func() bool {
		var err error
		b, err = os.ReadFile(filepath.Join(n.stateDir, "nats-cluster-id"))
		return err == nil && len(b) > 0
	})
	return strings.TrimSpace(string(b))
}

func (n *natsNode) stop() {
	select {
	case <-n.exited:
		return
	default:
	}
	_ = n.cmd.Process.Signal(os.Interrupt)
	select {
	case <-n.exited:
	case <-time.After(30 * time.Second):
		n.kill()
	}
}

// natsServer is one external nats-server process.
type natsServer struct {
	cmd    *exec.Cmd
	logs   *testbus.Buffer
	exited chan struct{}
}

// startNATSServers builds nats-server from the module and runs one on each
// node's address, clustered, with JetStream; it returns their client URLs
// and a function that stops them (also called at the end of the test).
func startNATSServers(t *testing.T, nodes []*testbed.Node) ([]string, func()) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "nats-server")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/nats-io/nats-server/v2").CombinedOutput(); err != nil {
		t.Fatalf("building nats-server: %v\n%s", err, out)
	}
	var urls []string
	var servers []*natsServer
	for i, n := range nodes {
		dir := t.TempDir()
		var routes []string
		for j, o := range nodes {
			if j != i {
				routes = append(routes, fmt.Sprintf("    %q", "nats-route://"+o.Addr+":6222"))
			}
		}
		conf := fmt.Sprintf("server_name: %q\nlisten: %q\njetstream {\n  store_dir: %q\n}\n"+
			"cluster {\n  name: \"external\"\n  listen: %q\n  routes: [\n%s\n  ]\n}\n",
			fmt.Sprint("external-", i+1), n.Addr+":4222", filepath.Join(dir, "js"), n.Addr+":6222", strings.Join(routes, "\n"))
		confFile := filepath.Join(dir, "nats.conf")
		if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		s := &natsServer{cmd: exec.Command(bin, "-c", confFile), logs: &testbus.Buffer{}, exited: make(chan struct{})}
		s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
		if err := s.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { _ = s.cmd.Wait(); close(s.exited) }()
		servers = append(servers, s)
		urls = append(urls, "nats://"+n.Addr+":4222")
	}
	stop := func() {
		for _, s := range servers {
			_ = s.cmd.Process.Signal(os.Interrupt)
			select {
			case <-s.exited:
			case <-time.After(30 * time.Second):
				_ = s.cmd.Process.Kill()
				<-s.exited
			}
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			for i, s := range servers {
				t.Logf("nats-server %d:\n%s", i+1, s.logs.String())
			}
		}
	})
	return urls, stop
}

// clusterChanges is how many volume changes the cluster stream tests make:
// $GLUSTERBUS_CLUSTER_CHANGES, else few enough for CI.
func clusterChanges(t *testing.T) int {
	v := os.Getenv("GLUSTERBUS_CLUSTER_CHANGES")
	if v == "" {
		return 30
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 6 {
		t.Fatalf("GLUSTERBUS_CLUSTER_CHANGES=%q: want a number of at least 6", v)
	}
	return n
}

// quantile of sorted durations.
func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, int(q*float64(len(d))))]
}

// streamLog follows the stream from its start.
type streamLog struct {
	mu   sync.Mutex
	msgs []natsstream.StreamMessage
}

func (l *streamLog) snapshot() []natsstream.StreamMessage {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]natsstream.StreamMessage(nil), l.msgs...)
}

// TestClusterStreamEmbedded runs three glusterd and three `glusterbus serve
// --nats-embedded` on loopback. Volume changes made from every node reach
// the stream once each, in order per volume, and a cluster webhook once
// each, while one daemon is killed (kill -9, its NATS server with it) and
// started again, and catches up.
func TestClusterStreamEmbedded(t *testing.T) { testClusterStream(t, false) }

// TestClusterStreamExternal is the same with three nats-server processes
// clustered on loopback and the daemons given `--nats URL,URL,URL`; the
// killed daemon takes no server with it.
func TestClusterStreamExternal(t *testing.T) { testClusterStream(t, true) }

func testClusterStream(t *testing.T, external bool) {
	testbed.Require(t)
	changes := clusterChanges(t)
	bin := filepath.Join(t.TempDir(), "glusterbus")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building glusterbus: %v\n%s", err, out)
	}
	c := testbed.Start(t, 3)
	n1 := c.Nodes[0]
	// Two volumes: order is kept per volume.
	vols := []string{"nv", "nw"}
	for i, v := range vols {
		c.Nodes[i].Gluster(t, "volume", "create", v, c.Nodes[i].Addr+":"+c.BrickDir(i+1, v), "force")
	}
	// A webhook for VOLUME_SET with cluster delivery, the same on every node.
	var hookMu sync.Mutex
	var hookValues []string
	hookTimes := map[string]time.Time{} // when each value reached the webhook
	hookSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var body struct {
			Event   string            `json:"event"`
			Message map[string]string `json:"message"`
		}
		if err := json.NewDecoder(req.Body).Decode(&body); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		if v, ok := body.Message["option.user.nats"]; ok && body.Event == "VOLUME_SET" {
			hookMu.Lock()
			hookValues = append(hookValues, v)
			if _, ok := hookTimes[v]; !ok {
				hookTimes[v] = time.Now()
			}
			hookMu.Unlock()
		}
	}))
	defer hookSrv.Close()
	hooksFile := filepath.Join(t.TempDir(), "webhooks.json")
	if err := webhook.Add(hooksFile, webhook.Webhook{URL: hookSrv.URL, Events: []string{"VOLUME_SET"},
		Sources: []string{webhook.SourceDiff}, Delivery: webhook.DeliveryCluster}); err != nil {
		t.Fatal(err)
	}

	var urls []string
	stopServers := func() {}
	if external {
		urls, stopServers = startNATSServers(t, c.Nodes)
	} else {
		for _, gn := range c.Nodes {
			urls = append(urls, "nats://"+gn.Addr+":4222")
		}
	}
	var nodes []*natsNode
	for _, gn := range c.Nodes {
		args := []string{"--nats", strings.Join(urls, ",")}
		if !external {
			args = []string{"--nats-embedded", "--nats-embedded-listen", gn.Addr + ":4222", "--nats-embedded-cluster-listen", gn.Addr + ":6222"}
		}
		n := &natsNode{t: t, bin: bin, node: gn, stateDir: t.TempDir(), hooks: hooksFile, natsArgs: args,
			bus: testbus.Start(t), logs: &testbus.Buffer{}}
		n.start()
		nodes = append(nodes, n)
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			n.stop()
			if t.Failed() {
				t.Logf("glusterbus on %s:\n%s", n.node.Addr, n.logs.String())
			}
		}
	})

	nc, err := natsstream.Connect(natsstream.ConnectOptions{URLs: urls, Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the stream with 3 replicas", 60*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, natsstream.StreamName)
		if err != nil {
			return false
		}
		info, err := s.Info(ctx)
		return err == nil && info.Config.Replicas == 3 && info.Cluster != nil && info.Cluster.Leader != ""
	})

	waitUntil(t, "the cluster webhook's consumer", 60*time.Second, func() bool {
		_, err := js.Consumer(context.Background(), natsstream.StreamName, natsstream.ConsumerName(clusterID(t, nodes[0]), hookSrv.URL))
		return err == nil
	})

	log := &streamLog{}
	ctx, cancel := context.WithCancel(context.Background())
	readDone := make(chan error, 1)
	go func() {
		readDone <- natsstream.Read(ctx, js, "", 0, true, func(m natsstream.StreamMessage) error {
			log.mu.Lock()
			log.msgs = append(log.msgs, m)
			log.mu.Unlock()
			return nil
		})
	}()
	defer cancel()

	setAt := map[string]time.Time{} // when each value's gluster command was started
	seen := func(value string) int {
		n := 0
		for _, m := range log.snapshot() {
			if m.Name == "VOLUME_SET" && m.Fields["option.user.nats"] == value {
				n++
			}
		}
		return n
	}
	killAt := changes / 3
	var killed, restarted, caughtUp time.Time
	began := time.Now()
	for i := range changes {
		switch i {
		case killAt:
			nodes[1].kill()
			killed = time.Now()
		case 2 * changes / 3:
			// Its first run may have been killed before it found the stream.
			before := len(nodes[1].logs.String())
			nodes[1].start()
			restarted = time.Now()
			// Back: it has read the cluster and found the stream.
			waitUntil(t, "the restarted daemon to publish again", 60*time.Second, func() bool {
				return strings.Contains(nodes[1].logs.String()[before:], "nats: stream ready")
			})
			// It catches up: the stream acknowledged all it journaled.
			waitUntil(t, "the restarted daemon to catch up", 60*time.Second, nodes[1].caughtUp)
			caughtUp = time.Now()
		}
		value := fmt.Sprint(i)
		setAt[value] = time.Now()
		c.Nodes[i%3].Gluster(t, "volume", "set", vols[i%len(vols)], "user.nats", value)
		waitUntil(t, "VOLUME_SET user.nats="+value+" in the stream", 60*time.Second, func() bool { return seen(value) > 0 })
		// At a person's pace: every running daemon saw this change before
		// the next one, and saw it at the same version.
		versions := map[string]bool{}
		for _, n := range nodes {
			if !n.running() {
				continue
			}
			waitUntil(t, fmt.Sprintf("user.nats=%s in the journal of %s", value, n.node.Addr), 60*time.Second, func() bool {
				v, ok := n.journaled(value)
				if ok {
					versions[v] = true
				}
				return ok
			})
		}
		if len(versions) != 1 {
			t.Errorf("user.nats=%s journaled at versions %v", value, versions)
		}
	}
	// A last change, made once every earlier one is in: a late duplicate
	// of an earlier one would come before it.
	n1.Gluster(t, "volume", "set", "nv", "user.nats-end", "1")
	waitUntil(t, "the last change in the stream", 60*time.Second, func() bool {
		for _, m := range log.snapshot() {
			if m.Name == "VOLUME_SET" && m.Fields["option.user.nats-end"] == "1" {
				return true
			}
		}
		return false
	})
	elapsed := time.Since(began)
	// The killed daemon is back and has published all it journaled; the
	// manager of every daemon says the stream works.
	for _, n := range nodes {
		waitUntil(t, "the daemon on "+n.node.Addr+" to have published all it journaled", 60*time.Second, n.caughtUp)
	}

	ids := map[string]int{}
	perVolume := map[string][]string{}
	for _, m := range log.snapshot() {
		ids[m.ID]++
		if v, ok := m.Fields["option.user.nats"]; ok && m.Name == "VOLUME_SET" {
			perVolume[m.Fields["name"]] = append(perVolume[m.Fields["name"]], v)
			if m.Fields["volume_version"] == "" {
				t.Errorf("VOLUME_SET without volume_version: %+v", m)
			}
		}
	}
	if t.Failed() {
		for _, m := range log.snapshot() {
			t.Logf("%d %s %s %s %v", m.StreamSeq, m.ID, m.Node, m.Name, m.Fields)
		}
	}
	for id, n := range ids {
		if n > 1 {
			t.Errorf("id %s is in the stream %d times", id, n)
		}
	}
	want := map[string][]string{}
	var wantAll []string
	for i := range changes {
		want[vols[i%len(vols)]] = append(want[vols[i%len(vols)]], fmt.Sprint(i))
		wantAll = append(wantAll, fmt.Sprint(i))
	}
	for _, v := range vols {
		if strings.Join(perVolume[v], " ") != strings.Join(want[v], " ") {
			t.Errorf("the stream's VOLUME_SET values of %s: %v, want %v once each, in order", v, perVolume[v], want[v])
		}
	}
	nodesSeen := map[string]bool{}
	for _, m := range log.snapshot() {
		nodesSeen[m.Node] = true
	}
	t.Logf("%d events in the stream from %d nodes", len(log.snapshot()), len(nodesSeen))

	// The cluster webhook got each change, in order: the daemons'
	// deliveries share one consumer. A daemon killed in the middle of a
	// POST has that one event posted again by another (docs/webhooks.md):
	// at most one extra delivery, of a change made about the kill.
	waitUntil(t, "every change at the cluster webhook", 60*time.Second, func() bool {
		hookMu.Lock()
		defer hookMu.Unlock()
		return len(hookTimes) >= changes
	})
	hookMu.Lock()
	var lat []time.Duration
	for v, at := range hookTimes {
		if set, ok := setAt[v]; ok {
			lat = append(lat, at.Sub(set))
		}
	}
	slices.Sort(lat)
	var firsts []string
	got := map[string]int{}
	for _, v := range hookValues {
		if got[v]++; got[v] == 1 {
			firsts = append(firsts, v)
		} else if i, _ := strconv.Atoi(v); i < killAt-1 || i > killAt {
			t.Errorf("the cluster webhook got user.nats=%s again, not about the kill", v)
		}
	}
	if extra := len(hookValues) - len(firsts); extra > 1 {
		t.Errorf("the cluster webhook got %d changes twice: %v", extra, hookValues)
	}
	if strings.Join(firsts, " ") != strings.Join(wantAll, " ") {
		t.Errorf("the cluster webhook got %v, want each of 0..%d, in order", hookValues, changes-1)
	}
	// Figures for docs/benchmarks.md; none is asserted.
	recovery := hookTimes[fmt.Sprint(killAt)].Sub(killed)
	t.Logf("%d changes in %v (%.2f changes/s, %.1f stream events/s); gluster command to cluster webhook: "+
		"min %v, p50 %v, p99 %v, max %v; kill -9 to the next change at the webhook: %v; "+
		"restart to caught up: %v; %d extra webhook deliveries",
		changes, elapsed.Round(time.Millisecond), float64(changes)/elapsed.Seconds(), float64(len(log.snapshot()))/elapsed.Seconds(),
		lat[0].Round(time.Millisecond), quantile(lat, 0.5).Round(time.Millisecond), quantile(lat, 0.99).Round(time.Millisecond),
		lat[len(lat)-1].Round(time.Millisecond), recovery.Round(time.Millisecond), caughtUp.Sub(restarted).Round(time.Millisecond),
		len(hookValues)-len(firsts))
	hookMu.Unlock()

	// The command line reads the same, the pool's id from serve's state.
	cli := exec.Command(bin, "events", "--cluster", "--json", "--nats", strings.Join(urls, ","),
		"--state-dir", nodes[0].stateDir)
	var stderr strings.Builder
	cli.Stderr = &stderr
	out, err := cli.Output()
	if err != nil {
		t.Fatalf("events --cluster: %v: %s", err, stderr.String())
	}
	if lines := strings.Count(string(out), "\n"); lines != len(log.snapshot()) {
		t.Errorf("events --cluster printed %d events, the stream holds %d:\n%s", lines, len(log.snapshot()), out)
	}

	cancel()
	if err := <-readDone; err != nil {
		t.Errorf("reading the stream: %v", err)
	}

	if external {
		// Without NATS, the manager says so in a PropertiesChanged.
		conn, err := dbus.Connect(nodes[0].bus)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := conn.AddMatchSignal(dbus.WithMatchObjectPath(exporter.ManagerPath),
			dbus.WithMatchMember("PropertiesChanged")); err != nil {
			t.Fatal(err)
		}
		sigs := make(chan *dbus.Signal, 100)
		conn.Signal(sigs)
		stopServers()
		deadline := time.After(60 * time.Second)
		for disconnected := false; !disconnected; {
			select {
			case sig := <-sigs:
				if len(sig.Body) < 2 {
					continue
				}
				changed, _ := sig.Body[1].(map[string]dbus.Variant)
				if v, ok := changed["ClusterStream"]; ok && v.Value() == "disconnected" {
					disconnected = true
				}
			case <-deadline:
				t.Fatal("no PropertiesChanged with ClusterStream disconnected within 60 s of stopping NATS")
			}
		}
		var lastErr string
		if err := conn.Object(exporter.BusName, exporter.ManagerPath).StoreProperty(exporter.ManagerInterface+".ClusterStreamLastError", &lastErr); err != nil || lastErr == "" {
			t.Errorf("disconnected, ClusterStreamLastError %q (%v)", lastErr, err)
		}
	}

	// Nothing any daemon journaled, the killed one's too, is missing from
	// the stream, but what it journaled while stopping (published at its
	// next start).
	for _, n := range nodes {
		n.stop()
		missing, cursor := n.unpublished(ids)
		for _, ev := range missing {
			if ev.Seq <= cursor {
				t.Errorf("the daemon on %s published up to %d, but the stream lacks its event %+v", n.node.Addr, cursor, ev)
			} else {
				t.Logf("the daemon on %s stopped before publishing %+v", n.node.Addr, ev)
			}
		}
	}
}
