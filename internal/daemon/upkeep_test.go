package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/nativeevents"
	"github.com/glusterbus/glusterbus/internal/state"
	"github.com/glusterbus/glusterbus/internal/testbus"
)

// TestSourcesAllowHostAndPeers: the allow-list is this host's addresses and
// the peers', follows the peers, and says once that a name did not resolve.
func TestSourcesAllowHostAndPeers(t *testing.T) {
	l, err := nativeevents.Listen(nativeevents.Config{ListenAddrs: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	logs := &testbus.Buffer{}
	model := state.NewModel()
	model.SetPeers(map[string]*state.Peer{
		"u1": {UUID: "u1", Hostname: "198.51.100.7", Hostnames: []string{"localhost"}},
		"u2": {UUID: "u2", Hostname: "no-such-peer.invalid"},
	})
	s := newSources(l, model, slog.New(slog.NewTextHandler(logs, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.update(ctx)
	s.update(ctx)

	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	nonLoopback := 0
	for _, ia := range ifaddrs {
		a, _ := netip.AddrFromSlice(ia.(*net.IPNet).IP)
		if !a.Unmap().IsLoopback() {
			nonLoopback++
		}
		if !l.Allowed(a) {
			t.Errorf("this host's address %v is not allowed", a)
		}
	}
	if nonLoopback == 0 {
		t.Log("this host has only loopback addresses")
	}
	for addr, want := range map[string]bool{"198.51.100.7": true, "203.0.113.9": false, "127.0.0.1": true} {
		if got := l.Allowed(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Allowed(%s) = %v, want %v", addr, got, want)
		}
	}
	if n := strings.Count(logs.String(), "cannot resolve a peer's name"); n != 1 {
		t.Errorf("the unresolved name was logged %d times, want once:\n%s", n, logs)
	}

	// A peer that goes away is no longer allowed.
	model.AddSink(s)
	go s.run(ctx, time.Hour)
	model.SetPeers(map[string]*state.Peer{"u2": {UUID: "u2", Hostname: "no-such-peer.invalid"}})
	deadline := time.Now().Add(10 * time.Second)
	for l.Allowed(netip.MustParseAddr("198.51.100.7")) {
		if time.Now().After(deadline) {
			t.Fatal("a detached peer is still allowed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestReadFor(t *testing.T) {
	for datagram, want := range map[string]string{
		"1 70 host=h;uuid=u":                        "peers ",
		"1 71 peer=h;uuid=u;state=Peer in Cluster":  "peers ",
		"1 0 host=h":                                "peers ",
		"1 1 host=h":                                "peers ",
		"1 69 peer=h":                               "peers ",
		"1 6 name=v;options=,a,b":                   "volume v",
		"1 77 peer=h;volume=v;brick=/b":             "runtime v",
		"1 81 volume=v":                             "runtime v",
		"1 106 client-pid=-6; subvol=v-replicate-0": "runtime v",
		"1 65 svc_name=glustershd":                  "nothing ",
		"1 97 client_uid=x":                         "nothing ",
		"1 19 (null)":                               "all ",
	} {
		ev, err := nativeevents.Parse([]byte(datagram))
		if err != nil {
			t.Fatal(err)
		}
		kind, vol := readFor(ev)
		if got := [...]string{"nothing", "volume", "runtime", "peers", "all"}[kind] + " " + vol; got != want {
			t.Errorf("%s (%q): %q, want %q", ev.Name, datagram, got, want)
		}
	}
}

// TestReportLossLimited: losses are logged as counts since the last line, at
// most one line per period, and nothing is left out at the end.
func TestReportLossLimited(t *testing.T) {
	var malformed, full atomic.Uint64
	logs := &testbus.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		reportLoss(ctx, func() nativeLoss { return nativeLoss{Malformed: malformed.Load(), QueueFull: full.Load()} },
			5*time.Millisecond, 200*time.Millisecond, slog.New(slog.NewTextHandler(logs, nil)))
	}()
	// Losses keep coming for at least a second and until a line came
	// after the first, then once more for the last line.
	deadline := start.Add(time.Minute)
	for time.Since(start) < time.Second || strings.Count(logs.String(), "\n") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("after a minute of losses:\n%s", logs)
		}
		malformed.Add(3)
		full.Add(1)
		time.Sleep(time.Millisecond) // losses spread over time
	}
	malformed.Add(3)
	full.Add(1)
	cancel()
	<-done
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	// One at once, one per period, one at the end.
	if max := 1 + int(time.Since(start)/(200*time.Millisecond)) + 1; len(lines) > max || len(lines) < 3 {
		t.Errorf("%d lines in %v, want 3 to %d:\n%s", len(lines), time.Since(start), max, logs)
	}
	var sumMalformed, sumFull uint64
	for _, line := range lines {
		if !strings.Contains(line, "level=WARN") || !strings.Contains(line, "native events dropped") {
			t.Errorf("not a loss warning: %s", line)
		}
		for _, word := range strings.Fields(line) {
			var n uint64
			if k, v, _ := strings.Cut(word, "="); k == "malformed" {
				fmt.Sscan(v, &n)
				sumMalformed += n
			} else if k == "queue_full" {
				fmt.Sscan(v, &n)
				sumFull += n
			}
		}
	}
	if sumMalformed != malformed.Load() || sumFull != full.Load() {
		t.Errorf("logged %d malformed and %d refused, counted %d and %d", sumMalformed, sumFull, malformed.Load(), full.Load())
	}
}
