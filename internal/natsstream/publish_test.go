package natsstream

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/glusterbus/glusterbus/internal/events"
	"github.com/glusterbus/glusterbus/internal/journal"
)

const testCluster = "c0ffee"

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func startServer(t *testing.T, dir, addr string) *server.Server {
	t.Helper()
	s, err := StartEmbedded(EmbeddedConfig{ServerName: "test", StoreDir: dir, ClientListen: addr})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openJournal(t testing.TB) *journal.Journal {
	t.Helper()
	j, err := journal.Open(filepath.Join(t.TempDir(), "journal.db"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

// setEvent is the VOLUME_SET a daemon journals when option x of volume v
// becomes value at configuration version.
func setEvent(node, value string, version int) journal.Event {
	return journal.Event{Node: node, Name: "VOLUME_SET", Source: "diff", Object: "/vol/v",
		Fields: []journal.Field{{Key: "name", Value: "v"}, {Key: "option.user.x", Value: value},
			{Key: events.VolumeVersionField, Value: strconv.Itoa(version)}}}
}

func nativeEvent(node string, i int) journal.Event {
	return journal.Event{Node: node, Name: "AFR_SPLIT_BRAIN", Source: "native", Time: time.Unix(1700000000, 0),
		Fields: []journal.Field{{Key: "subvol", Value: "v-replicate-0"}, {Key: "n", Value: strconv.Itoa(i)}}}
}

func appendAll(t *testing.T, j *journal.Journal, evs ...journal.Event) {
	t.Helper()
	if _, err := j.Append(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
}

type runningPublisher struct {
	p    *Publisher
	stop func()
}

func startPublisher(t *testing.T, j *journal.Journal, url string) *runningPublisher {
	t.Helper()
	nc, err := Connect(ConnectOptions{URLs: []string{url}, Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return startPublisher3(t, j, nc)
}

// startPublisher3 runs a publisher with 3 replicas (1 on a single server)
// on nc, which it closes when stopped.
func startPublisher3(t *testing.T, j *journal.Journal, nc *nats.Conn) *runningPublisher {
	t.Helper()
	replicas := 1
	if len(nc.Servers()) > 1 {
		replicas = 3
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPublisher(PublisherOptions{Journal: j, JS: js, Cluster: testCluster, Replicas: replicas, AckTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// As the daemon does: where publishing starts must not depend on when
	// the goroutine gets to run.
	if _, err := StartCursor(j); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	rp := &runningPublisher{p: p}
	rp.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("publisher: %v", err)
		}
		nc.Close()
		rp.stop = func() {}
	}
	t.Cleanup(func() { rp.stop() })
	return rp
}

// streamMessages reads the whole stream: id -> count, and the bodies in order.
func streamMessages(t *testing.T, url string) (map[string]int, []Message) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	var msgs []Message
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		ids[m.Header.Get(jetstream.MsgIDHeader)]++
		var msg Message
		if err := json.Unmarshal(m.Data, &msg); err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		if want := Subject(testCluster, msg.Name); m.Subject != want {
			t.Errorf("message %d on %s, want %s", seq, m.Subject, want)
		}
		msgs = append(msgs, msg)
	}
	return ids, msgs
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func streamCount(url string) uint64 {
	nc, err := nats.Connect(url)
	if err != nil {
		return 0
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, StreamName)
	if err != nil {
		return 0
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0
	}
	return info.State.Msgs
}

func TestPublishResumeAndDeduplicate(t *testing.T) {
	storeDir := t.TempDir()
	addr := freeAddr(t)
	url := "nats://" + addr
	srv := startServer(t, storeDir, addr)
	defer func() { srv.Shutdown() }()

	// Node A journals 20 configuration changes and 5 native events.
	a := openJournal(t)
	appendAll(t, a, nativeEvent("node-a", -1)) // before the stream was on: not published
	pa := startPublisher(t, a, url)
	for i := range 20 {
		appendAll(t, a, setEvent("node-a", fmt.Sprint(i), 10+i))
	}
	for i := range 5 {
		appendAll(t, a, nativeEvent("node-a", i))
	}
	waitFor(t, "node A's 25 events", func() bool { return streamCount(url) == 25 })

	// Node B saw the same 20 changes (its own sequence numbers and times)
	// and 5 native events of its own: only those are new.
	b := openJournal(t)
	pb := startPublisher(t, b, url)
	appendAll(t, b, nativeEvent("node-b", 99)) // shifts B's numbering
	for i := range 20 {
		appendAll(t, b, setEvent("node-b", fmt.Sprint(i), 10+i))
	}
	for i := range 5 {
		appendAll(t, b, nativeEvent("node-b", i))
	}
	waitFor(t, "node B's events", func() bool { return pb.p.Status().Cursor == b.LastSeq() })
	if st := pb.p.Status(); st.Duplicates != 20 || st.Published != 6 {
		t.Errorf("node B: %+v, want 20 duplicates and 6 published", st)
	}
	if n := streamCount(url); n != 31 {
		t.Errorf("the stream holds %d events, want 31", n)
	}

	// NATS goes away; A journals on; NATS comes back: nothing is lost.
	srv.Shutdown()
	srv.WaitForShutdown()
	for i := 20; i < 40; i++ {
		appendAll(t, a, setEvent("node-a", fmt.Sprint(i), 10+i))
	}
	waitFor(t, "a failed publish", func() bool { return pa.p.Status().LastError != "" })
	srv = startServer(t, storeDir, addr)
	waitFor(t, "node A to catch up", func() bool { return pa.p.Status().Cursor == a.LastSeq() })

	// A restarted publisher resumes at its cursor: nothing is sent twice.
	pa.stop()
	for i := 40; i < 45; i++ {
		appendAll(t, a, setEvent("node-a", fmt.Sprint(i), 10+i))
	}
	pa = startPublisher(t, a, url)
	waitFor(t, "node A to resume", func() bool { return pa.p.Status().Cursor == a.LastSeq() })
	if st := pa.p.Status(); st.Published != 5 || st.Duplicates != 0 {
		t.Errorf("restarted publisher: %+v, want 5 published, no duplicates", st)
	}

	ids, msgs := streamMessages(t, url)
	if len(msgs) != 56 || len(ids) != 56 {
		t.Fatalf("the stream holds %d messages with %d ids, want 56 each", len(msgs), len(ids))
	}
	var values []string
	for _, m := range msgs {
		if m.Name == "VOLUME_SET" {
			if m.Node != "node-a" || m.Fields["source"] != "diff" {
				t.Errorf("unexpected %+v", m)
			}
			values = append(values, m.Fields["option.user.x"])
		}
	}
	for i, v := range values {
		if v != fmt.Sprint(i) {
			t.Fatalf("VOLUME_SET values out of order or missing: %v", values)
		}
	}
	if len(values) != 45 {
		t.Errorf("%d VOLUME_SET, want 45", len(values))
	}

	// Read gives the same, in the stream's order.
	nc, err := Connect(ConnectOptions{URLs: []string{url}, FailFast: true})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	var read []StreamMessage
	err = Read(context.Background(), js, testCluster, 0, false, func(m StreamMessage) error { read = append(read, m); return nil })
	if err != nil || len(read) != len(msgs) {
		t.Fatalf("Read: %d messages, %v; want %d", len(read), err, len(msgs))
	}
	for i, m := range read {
		if m.StreamSeq != uint64(i+1) || m.Name != msgs[i].Name || m.ID == "" {
			t.Errorf("Read message %d: %+v", i, m)
		}
	}
	read = nil
	if err := Read(context.Background(), js, "other-pool", 0, false, func(m StreamMessage) error { read = append(read, m); return nil }); err != nil || len(read) != 0 {
		t.Errorf("another pool's events: %d, %v", len(read), err)
	}
}

func TestMsgIDRule(t *testing.T) {
	a, b := setEvent("node-a", "1", 3), setEvent("node-b", "1", 3)
	a.Seq, b.Seq = 7, 9
	a.Time, b.Time = time.Unix(1, 0), time.Unix(2, 0)
	if MsgID("c", a) != MsgID("c", b) {
		t.Error("the same configuration change gets different ids on two nodes")
	}
	if MsgID("c", a) == MsgID("d", a) {
		t.Error("two pools share an id")
	}
	if c := setEvent("node-a", "1", 4); MsgID("c", a) == MsgID("c", c) {
		t.Error("a change at another configuration version gets the same id")
	}
	n1, n2 := nativeEvent("node-a", 1), nativeEvent("node-b", 1)
	if MsgID("c", n1) == MsgID("c", n2) {
		t.Error("native events of two nodes share an id")
	}
	n3 := n1
	n3.Seq = 5
	if MsgID("c", n1) == MsgID("c", n3) {
		t.Error("two native events of one node in one second share an id")
	}
	if got := Subject("a.b", "X*"); got != "glusterfs.a_b.events.X_" {
		t.Errorf("Subject = %q", got)
	}
}
