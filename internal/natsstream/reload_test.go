package natsstream

import (
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// TestReloadEmbeddedRoutes: a server whose only route leads nowhere joins
// a running cluster when a reload gives it a route to one of its servers.
func TestReloadEmbeddedRoutes(t *testing.T) {
	addr := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}
	a, b, c, nowhere := addr(), addr(), addr(), addr()
	start := func(name, listen string, routes ...string) (EmbeddedConfig, *server.Server) {
		cfg := EmbeddedConfig{ServerName: name, StoreDir: filepath.Join(t.TempDir(), "js"), ClientListen: "127.0.0.1:-1",
			ClusterListen: listen, ClusterName: "reload", Routes: routes}
		s, err := StartEmbedded(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
		return cfg, s
	}
	_, sa := start("a", a, b)
	_, sb := start("b", b, a)
	cc, sc := start("c", c, nowhere)
	waitForCond(t, "a and b routed", func() bool { return sa.NumRoutes() > 0 && sb.NumRoutes() > 0 })
	ab := sa.NumRoutes()
	if sc.NumRoutes() != 0 {
		t.Fatalf("c has %d routes before the reload", sc.NumRoutes())
	}

	cc.Routes = []string{a}
	if err := ReloadEmbedded(sc, cc); err != nil {
		t.Fatal(err)
	}
	// NATS passes routes on: c reaches b through a.
	waitForCond(t, "c routed to a and b", func() bool {
		return sc.NumRoutes() >= 2*ab && sa.NumRoutes() >= 2*ab && sb.NumRoutes() >= 2*ab
	})

	// What a reload cannot change is refused, and the server keeps running.
	cc.ClusterListen = nowhere
	if err := ReloadEmbedded(sc, cc); err == nil {
		t.Error("a reload that moves the cluster port succeeded")
	}
	if !sc.Running() {
		t.Error("the server stopped after a refused reload")
	}
}

func waitForCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
