package natsstream

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

func TestEmbeddedConfigQuotes(t *testing.T) {
	conf, err := EmbeddedConfig{ServerName: `a"b`, StoreDir: "/x y", Routes: []string{"h1:6222"}}.Config()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`server_name: "a\"b"`, `store_dir: "/x y"`, `"nats-route://h1:6222"`, `listen: "0.0.0.0:6222"`, `listen: "127.0.0.1:4222"`} {
		if !strings.Contains(conf, want) {
			t.Errorf("configuration lacks %s:\n%s", want, conf)
		}
	}
	opts := &server.Options{}
	if err := opts.ProcessConfigString(conf); err != nil {
		t.Fatalf("nats-server refuses it: %v\n%s", err, conf)
	}
	if opts.ServerName != `a"b` || opts.StoreDir != "/x y" || len(opts.Routes) != 1 || opts.Cluster.Port != 6222 {
		t.Errorf("parsed as %q %q %v %d", opts.ServerName, opts.StoreDir, opts.Routes, opts.Cluster.Port)
	}
	if _, err := (EmbeddedConfig{StoreDir: "/x"}).Config(); err == nil {
		t.Error("a server without a name was accepted")
	}
}

// cluster3 is three embedded servers on loopback with fixed ports and store
// directories, so that they can be stopped and started again.
type cluster3 struct {
	t       *testing.T
	configs []EmbeddedConfig
	servers []*server.Server
}

func newCluster3(t *testing.T) *cluster3 {
	c := &cluster3{t: t}
	var clients, routes []string
	for range 3 {
		clients = append(clients, freeAddr(t))
		routes = append(routes, freeAddr(t))
	}
	for i := range 3 {
		var others []string
		for k, r := range routes {
			if k != i {
				others = append(others, r)
			}
		}
		c.configs = append(c.configs, EmbeddedConfig{ServerName: fmt.Sprintf("node-%d", i), StoreDir: t.TempDir(),
			ClientListen: clients[i], ClusterListen: routes[i], ClusterName: "test", Routes: others})
	}
	c.start()
	t.Cleanup(c.stop)
	return c
}

// start starts the servers at once, as the daemons of a rebooted pool.
func (c *cluster3) start() {
	c.servers = make([]*server.Server, 3)
	var wg sync.WaitGroup
	for i := range c.configs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := StartEmbedded(c.configs[i])
			if err != nil {
				c.t.Error(err)
				return
			}
			c.servers[i] = s
		}()
	}
	wg.Wait()
	if c.t.Failed() {
		c.t.FailNow()
	}
}

func (c *cluster3) stop() {
	for _, s := range c.servers {
		if s != nil {
			s.Shutdown()
			s.WaitForShutdown()
		}
	}
	c.servers = nil
}

func (c *cluster3) url(i int) string { return "nats://" + c.configs[i].ClientListen }

// TestEmbeddedClusterRestart: three embedded servers with a 3-replica
// stream all stop and start again (a pool rebooted); the stream keeps its
// events and takes new ones, with no event lost or doubled.
func TestEmbeddedClusterRestart(t *testing.T) {
	c := newCluster3(t)
	j := openJournal(t)
	nc, err := Connect(ConnectOptions{URLs: []string{c.url(0), c.url(1), c.url(2)}, Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	p := startPublisher3(t, j, nc)
	for i := range 10 {
		appendAll(t, j, setEvent("node-a", fmt.Sprint(i), i))
	}
	waitFor(t, "10 events published", func() bool { return p.p.Status().Cursor == j.LastSeq() })
	js, _ := jetstream.New(nc)
	s, err := js.Stream(context.Background(), StreamName)
	if err != nil {
		t.Fatal(err)
	}
	if r := s.CachedInfo().Config.Replicas; r != 3 {
		t.Fatalf("the stream has %d replicas, want 3", r)
	}

	c.stop()
	for i := 10; i < 20; i++ {
		appendAll(t, j, setEvent("node-a", fmt.Sprint(i), i))
	}
	c.start()
	waitFor(t, "20 events published after the restart", func() bool { return p.p.Status().Cursor == j.LastSeq() })

	ids, msgs := streamMessages(t, c.url(2))
	if len(msgs) != 20 || len(ids) != 20 {
		t.Fatalf("the stream holds %d messages with %d ids, want 20", len(msgs), len(ids))
	}
	for i, m := range msgs {
		if m.Fields["option.user.x"] != fmt.Sprint(i) {
			t.Fatalf("message %d: %+v", i, m)
		}
	}
}
