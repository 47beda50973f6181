package daemon_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/daemon"
	"github.com/glusterbus/glusterbus/internal/testbed"
	"github.com/glusterbus/glusterbus/internal/testbus"
)

// nativeDaemon is a daemon with no GlusterFS behind it, fed native events
// by the test.
type nativeDaemon struct {
	*harness
	port     int
	stateDir string
	logs     *testbus.Buffer
	stop     func() // stops the daemon and waits for it
}

// startNative runs the daemon on a private bus with its events port on
// listen, recording its signals and its log.
func startNative(t *testing.T, listen string, tune ...func(*daemon.Config)) *nativeDaemon {
	t.Helper()
	addr := testbus.Start(t)
	d := &nativeDaemon{port: freeUDPPort(t), stateDir: t.TempDir(), logs: &testbus.Buffer{}}
	cfg := daemon.Config{Bus: addr, Gluster: []string{"false"}, GlusterdWorkdir: t.TempDir(),
		StateDir: d.stateDir, Interval: time.Hour, CLITimeout: time.Second, EventsPort: d.port,
		EventsAddrs: []string{listen}, EventsRate: -1,
		Logger: slog.New(slog.NewTextHandler(d.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, f := range tune {
		f(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- daemon.Run(ctx, cfg) }()
	stopped := false
	d.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	}
	t.Cleanup(d.stop)
	conn := waitOwner(t, addr, 20*time.Second)
	t.Cleanup(func() { conn.Close() })
	d.harness = newHarness(t, nil, conn)
	return d
}

// send sends datagrams to the daemon's events port from the address from
// (any if invalid).
func (d *nativeDaemon) send(to, from netip.Addr, datagrams ...string) {
	d.t.Helper()
	var local *net.UDPAddr
	if from.IsValid() {
		local = net.UDPAddrFromAddrPort(netip.AddrPortFrom(from, 0))
	}
	c, err := net.DialUDP("udp", local, net.UDPAddrFromAddrPort(netip.AddrPortFrom(to, uint16(d.port))))
	if err != nil {
		d.t.Fatal(err)
	}
	defer c.Close()
	for _, s := range datagrams {
		if _, err := c.Write([]byte(s)); err != nil {
			d.t.Fatal(err)
		}
	}
}

// localAddr is an address of this host that is not loopback, or the test
// ends for want of one.
func localAddr(t *testing.T) netip.Addr {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && !ip.Unmap().IsLoopback() && !ip.IsLinkLocalUnicast() {
				return ip.Unmap()
			}
		}
	}
	testbed.Missing(t, "this host has no address other than loopback and link-local ones")
	return netip.Addr{}
}

// TestLocalAddressAllowed: bricks and local mounts send their events from
// this host's own addresses, which are no peer's.
func TestLocalAddressAllowed(t *testing.T) {
	local := localAddr(t)
	d := startNative(t, local.String())
	d.send(local, local, fmt.Sprintf("%d 97 client_uid=local;client_identifier=%s:49144", time.Now().Unix(), local))
	d.waitFor("the event from a local address", 10*time.Second, func() bool {
		return has(d.getEvents(0), "native/CLIENT_CONNECT")
	})
	if strings.Contains(d.logs.String(), "problem=rejected") {
		t.Errorf("a datagram from this host was rejected:\n%s", d.logs)
	}
}

// TestSecretOptionHidden: a password set with `volume set` reaches neither
// GetEvents, the Event signal, nor the journal's file; its option does.
func TestSecretOptionHidden(t *testing.T) {
	loopback := netip.MustParseAddr("127.0.0.1")
	d := startNative(t, loopback.String())
	const secret, tail = "S3cr3t-pw", "tail-of-pw"
	now := time.Now().Unix()
	d.send(loopback, netip.Addr{},
		// A value's commas are not escaped: the tail of the password
		// would become an option name.
		fmt.Sprintf("%d 6 name=vol;options=,auth.login.u1.password,%s,%s,performance.x,on", now, secret, tail),
		fmt.Sprintf("%d 6 name=vol;options=,auth.allow,10.0.0.1,10.0.0.2,features.token,%s", now, secret),
		fmt.Sprintf("%d 6 name=vol;options=,performance.y,off", now))
	d.waitFor("the three events", 10*time.Second, func() bool { return len(d.getEvents(0)) == 3 })
	d.waitFor("their signals", 10*time.Second, func() bool { return len(d.eventSignals(0)) == 3 })
	evs := d.getEvents(0)
	if got := evs[0].Fields["option.auth.login.u1.password"]; got != "(hidden)" {
		t.Errorf("the password option is %q, want it hidden and kept", got)
	}
	if got := evs[2].Fields["option.performance.y"]; got != "off" {
		t.Errorf("an ordinary option is %q, want off", got)
	}
	d.stop()
	db, err := os.ReadFile(filepath.Join(d.stateDir, "journal.db"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(db), "performance.y") {
		t.Fatal("the journal file does not hold the events: the test reads the wrong file")
	}
	for where, text := range map[string]string{
		"GetEvents":  dumpEvents(evs),
		"Event":      dumpEvents(d.eventSignals(0)),
		"journal.db": string(db),
		"the log":    d.logs.String(),
	} {
		for _, s := range []string{secret, tail} {
			if strings.Contains(text, s) {
				t.Errorf("%q appears in %s", s, where)
			}
		}
	}
}

// dumpEvents shows every part of the events.
func dumpEvents(evs []event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "%d %s %s %s %v\n", e.Seq, e.Name, e.Node, e.Object, e.Fields)
	}
	return b.String()
}

// TestNativeLossLogged: the native events dropped are counted in the log,
// by reason.
func TestNativeLossLogged(t *testing.T) {
	loopback := netip.MustParseAddr("127.0.0.1")
	d := startNative(t, loopback.String(), func(c *daemon.Config) { c.EventsRate, c.EventsBurst = 0.001, 4 })
	now := time.Now().Unix()
	d.send(loopback, netip.Addr{}, "not an event", "1 9999 a=b", fmt.Sprintf("%d 97 client_uid=x", now), "1 (",
		// Over the burst.
		fmt.Sprintf("%d 97 client_uid=y", now), fmt.Sprintf("%d 97 client_uid=z", now))
	want := map[string]int{"malformed": 2, "unknown": 1, "rate_limited": 2, "queue_full": 0}
	var got map[string]int
	d.waitFor("the losses in the log", 15*time.Second, func() bool {
		got = lossCounts(t, d.logs.String())
		return got["malformed"] == want["malformed"] && got["unknown"] == want["unknown"] && got["rate_limited"] == want["rate_limited"]
	})
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d logged, want %d", k, got[k], n)
		}
	}
}

// lossCounts sums the counts of the log's loss lines.
func lossCounts(t *testing.T, log string) map[string]int {
	sums := map[string]int{}
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, "native events dropped") {
			continue
		}
		if !strings.Contains(line, "level=WARN") {
			t.Errorf("not a warning: %s", line)
		}
		for _, word := range strings.Fields(line) {
			k, v, _ := strings.Cut(word, "=")
			var n int
			if _, err := fmt.Sscan(v, &n); err == nil {
				sums[k] += n
			}
		}
	}
	return sums
}
