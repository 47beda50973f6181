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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/glusterbus/glusterbus/internal/busclient"
	"github.com/glusterbus/glusterbus/internal/journal"
	"github.com/glusterbus/glusterbus/internal/natsstream"
	"github.com/glusterbus/glusterbus/internal/testbed"
	"github.com/glusterbus/glusterbus/internal/testbus"
	"github.com/glusterbus/glusterbus/internal/webhook"
)

// natsNode is one `glusterbus serve --nats-embedded` process beside one
// glusterd of the cluster.
type natsNode struct {
	t        *testing.T
	bin      string
	node     *testbed.Node
	stateDir string
	hooks    string // the webhooks file
	bus      string
	logs     *testbus.Buffer
	cmd      *exec.Cmd
	exited   chan struct{}
}

func (n *natsNode) start() {
	n.t.Helper()
	n.cmd = exec.Command(n.bin, "serve", "--bus", n.bus, "--gluster", strings.Join(n.node.CLI(), " "),
		"--glusterd-workdir", n.node.Workdir, "--state-dir", n.stateDir, "--config", filepath.Join(n.stateDir, "none.conf"),
		"--interval", "1s", "--no-events", "--webhooks-file", n.hooks,
		"--nats-embedded", "--nats-embedded-listen", n.node.Addr+":4222", "--nats-embedded-cluster-listen", n.node.Addr+":6222")
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
// the stream once each, in order, while one daemon is killed (kill -9, its
// NATS server with it) and started again.
func TestClusterStreamEmbedded(t *testing.T) {
	testbed.Require(t)
	bin := filepath.Join(t.TempDir(), "glusterbus")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building glusterbus: %v\n%s", err, out)
	}
	c := testbed.Start(t, 3)
	n1 := c.Nodes[0]
	n1.Gluster(t, "volume", "create", "nv", n1.Addr+":"+c.BrickDir(1, "nv"), "force")

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

	var nodes []*natsNode
	var urls []string
	for _, gn := range c.Nodes {
		n := &natsNode{t: t, bin: bin, node: gn, stateDir: t.TempDir(), hooks: hooksFile, bus: testbus.Start(t), logs: &testbus.Buffer{}}
		n.start()
		nodes = append(nodes, n)
		urls = append(urls, "nats://"+gn.Addr+":4222")
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

	const changes = 12
	setAt := map[string]time.Time{} // when each value's gluster command returned
	seen := func(value string) int {
		n := 0
		for _, m := range log.snapshot() {
			if m.Name == "VOLUME_SET" && m.Fields["option.user.nats"] == value {
				n++
			}
		}
		return n
	}
	for i := range changes {
		switch i {
		case changes / 3:
			nodes[1].kill()
		case 2 * changes / 3:
			// Its first run may have been killed before it found the stream.
			before := len(nodes[1].logs.String())
			nodes[1].start()
			// Back: it has read the cluster and found the stream.
			waitUntil(t, "the restarted daemon to publish again", 60*time.Second, func() bool {
				return strings.Contains(nodes[1].logs.String()[before:], "nats: stream ready")
			})
		}
		value := fmt.Sprint(i)
		c.Nodes[i%3].Gluster(t, "volume", "set", "nv", "user.nats", value)
		setAt[value] = time.Now()
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

	ids := map[string]int{}
	var values []string
	for _, m := range log.snapshot() {
		ids[m.ID]++
		if v, ok := m.Fields["option.user.nats"]; ok && m.Name == "VOLUME_SET" {
			values = append(values, v)
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
	want := make([]string, changes)
	for i := range want {
		want[i] = fmt.Sprint(i)
	}
	if strings.Join(values, " ") != strings.Join(want, " ") {
		t.Errorf("the stream's VOLUME_SET values: %v, want each of 0..%d once, in order", values, changes-1)
	}
	nodesSeen := map[string]bool{}
	for _, m := range log.snapshot() {
		nodesSeen[m.Node] = true
	}
	t.Logf("%d events in the stream from %d nodes", len(log.snapshot()), len(nodesSeen))

	// The cluster webhook got each change once, in order: the daemons'
	// deliveries share one consumer. (A daemon killed in the middle of a
	// POST would have that one event posted again by another.)
	deadline := time.Now().Add(60 * time.Second)
	for {
		hookMu.Lock()
		n := len(hookValues)
		hookMu.Unlock()
		if n >= changes || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	hookMu.Lock()
	var lat []time.Duration
	for v, at := range hookTimes {
		if set, ok := setAt[v]; ok {
			lat = append(lat, at.Sub(set))
		}
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		t.Logf("gluster command to cluster webhook: min %v, median %v, max %v over %d changes",
			lat[0].Round(time.Millisecond), lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond), len(lat))
	}
	if strings.Join(hookValues, " ") != strings.Join(want, " ") {
		t.Errorf("the cluster webhook got %v, want each of 0..%d once, in order", hookValues, changes-1)
	}
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
