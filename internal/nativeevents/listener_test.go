package nativeevents

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/testbed"
)

// recorder is a slog.Handler keeping the records.
type recorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec.Clone())
	return nil
}

// count returns how many records have an attribute key=value.
func (r *recorder) count(key, value string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rec := range r.records {
		rec.Attrs(func(a slog.Attr) bool {
			if a.Key == key && a.Value.String() == value {
				n++
			}
			return true
		})
	}
	return n
}

func (r *recorder) levels() []slog.Level {
	r.mu.Lock()
	defer r.mu.Unlock()
	var l []slog.Level
	for _, rec := range r.records {
		l = append(l, rec.Level)
	}
	return l
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestAllowed(t *testing.T) {
	peers := map[netip.Addr]struct{}{addr("192.0.2.10"): {}, addr("2001:db8::10"): {}}
	allow := []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("2001:db8:1::/48")}
	for _, tc := range []struct {
		src  string
		want bool
	}{
		{"127.0.0.1", true},
		{"127.1.250.1", true},
		{"::1", true},
		{"::ffff:127.0.0.1", true},
		{"192.0.2.10", true},
		{"::ffff:192.0.2.10", true},
		{"2001:db8::10", true},
		{"fe80::1%lo", false},
		{"192.0.2.11", false},
		{"198.51.100.7", true},
		{"::ffff:198.51.100.7", true},
		{"198.51.101.7", false},
		{"2001:db8:1:2::3", true},
		{"2001:db8:2::3", false},
		{"0.0.0.0", false},
		{"::", false},
		{"10.0.0.1", false},
	} {
		if got := allowed(addr(tc.src), peers, allow); got != tc.want {
			t.Errorf("allowed(%s) = %v, want %v", tc.src, got, tc.want)
		}
	}
	if allowed(netip.Addr{}, peers, allow) {
		t.Error("the zero address is allowed")
	}
	if !allowed(addr("2001:db8::10%eth0"), peers, allow) {
		t.Error("a peer's address with a zone is not allowed")
	}
	if allowed(addr("192.0.2.10"), nil, nil) {
		t.Error("a non-loopback address is allowed without peers or networks")
	}
}

// listenLoopback listens on free ports of 127.0.0.1 and, when the machine
// has it, ::1.
func listenLoopback(t testing.TB, cfg Config) *Listener {
	t.Helper()
	cfg.ListenAddrs = []string{"127.0.0.1"}
	if hasIPv6Loopback() {
		cfg.ListenAddrs = append(cfg.ListenAddrs, "::1")
	}
	l, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// requireIPv6Loopback skips the test without an IPv6 loopback, or fails it
// where it must run (testbed.Missing): GlusterFS's CLI sends its events from
// [::1].
func requireIPv6Loopback(t *testing.T) {
	t.Helper()
	if err := ipv6Loopback(); err != nil {
		testbed.Missing(t, "no IPv6 loopback: %v", err)
	}
}

// hasIPv6Loopback says whether the machine has an IPv6 loopback, for the
// parts of tests that also check [::1] where it exists.
func hasIPv6Loopback() bool { return ipv6Loopback() == nil }

func ipv6Loopback() error {
	c, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		return err
	}
	return c.Close()
}

func TestListenerPeersAndAllow(t *testing.T) {
	l := listenLoopback(t, Config{Allow: []netip.Prefix{netip.MustParsePrefix("::ffff:198.51.100.0/120")}})
	if !l.Allowed(addr("198.51.100.9")) || l.Allowed(addr("198.51.101.9")) {
		t.Error("an IPv4-mapped network in Allow is not applied to IPv4 sources")
	}
	if l.Allowed(addr("192.0.2.10")) {
		t.Error("192.0.2.10 allowed before SetPeers")
	}
	l.SetPeers([]netip.Addr{addr("::ffff:192.0.2.10"), addr("2001:db8::10")})
	if !l.Allowed(addr("192.0.2.10")) || !l.Allowed(addr("2001:db8::10")) {
		t.Error("peers not allowed after SetPeers")
	}
	l.SetPeers(nil)
	if l.Allowed(addr("192.0.2.10")) {
		t.Error("former peer still allowed")
	}
	if !l.Allowed(addr("::1")) {
		t.Error("loopback not allowed")
	}
}

func TestSetPeersConcurrent(t *testing.T) {
	l := listenLoopback(t, Config{})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 200 {
				a := netip.AddrFrom4([4]byte{192, 0, 2, byte(i*50 + j%50)})
				if j%2 == 0 {
					l.SetPeers([]netip.Addr{a})
				} else {
					l.Allowed(a)
					l.process([]byte("1 3 name=v"), a, func(Event, netip.Addr) {})
				}
			}
		})
	}
	wg.Wait()
}

// runListener runs l until the test ends, and collects the accepted events.
func runListener(t testing.TB, l *Listener) (events func() []received) {
	t.Helper()
	var mu sync.Mutex
	var got []received
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- l.Run(ctx, func(ev Event, src netip.Addr) {
			mu.Lock()
			got = append(got, received{ev, src})
			mu.Unlock()
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(time.Minute):
			t.Error("Run did not return after cancel")
		}
	})
	return func() []received {
		mu.Lock()
		defer mu.Unlock()
		return append([]received(nil), got...)
	}
}

type received struct {
	ev  Event
	src netip.Addr
}

// send sends datagrams from a new socket bound to from (a loopback address)
// to the listener address to.
func send(t testing.TB, from string, to net.Addr, datagrams ...string) {
	t.Helper()
	network := "udp4"
	if strings.Contains(from, ":") {
		network = "udp6"
	}
	laddr := net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr(from), 0))
	c, err := net.DialUDP(network, laddr, to.(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, d := range datagrams {
		if _, err := c.Write([]byte(d)); err != nil {
			t.Fatal(err)
		}
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func localAddr(t testing.TB, l *Listener, v6 bool) net.Addr {
	t.Helper()
	for _, a := range l.LocalAddrs() {
		if (a.(*net.UDPAddr).IP.To4() == nil) == v6 {
			return a
		}
	}
	t.Fatalf("no local address with v6=%v in %v", v6, l.LocalAddrs())
	return nil
}

func TestListenerRoundTrip(t *testing.T) {
	l := listenLoopback(t, Config{})
	addrs := l.LocalAddrs()
	port := addrs[0].(*net.UDPAddr).Port
	for _, a := range addrs {
		if a.(*net.UDPAddr).Port != port {
			t.Errorf("ports differ: %v", addrs)
		}
	}
	events := runListener(t, l)

	send(t, "127.0.0.1", localAddr(t, l, false), "1795553034 108 client-pid=-6; subvol=necaprep-replicate-0")
	waitFor(t, "the IPv4 event", func() bool { return len(events()) == 1 })
	got := events()[0]
	if got.src != addr("127.0.0.1") || got.ev.Name != "AFR_SUBVOL_UP" || got.ev.Fields[1] != (Field{"subvol", "necaprep-replicate-0"}) {
		t.Errorf("got %+v from %v", got.ev, got.src)
	}
	requireIPv6Loopback(t)
	send(t, "::1", localAddr(t, l, true), "1795553039 6 name=necaprep;options=,performance.readdir-ahead,off")
	waitFor(t, "the IPv6 event", func() bool { return len(events()) == 2 })
	got = events()[1]
	if got.src != addr("::1") || got.ev.Name != "VOLUME_SET" {
		t.Errorf("got %+v from %v", got.ev, got.src)
	}
	s := l.Stats()
	if s.Received != 2 || s.Accepted != 2 || s.Events["VOLUME_SET"] != 1 || s.Events["AFR_SUBVOL_UP"] != 1 || len(s.Events) != 2 {
		t.Errorf("stats %+v", s)
	}
}

func TestListenerProblemsCountedAndLoggedOnce(t *testing.T) {
	rec := &recorder{}
	l := listenLoopback(t, Config{Logger: slog.New(rec), RatePerSource: 0.001, Burst: 6})
	events := runListener(t, l)
	to := localAddr(t, l, false)

	send(t, "127.0.0.2", to, "garbage", "1 2 garbage", "1 999 name=v", "1 999 name=v", "1 3 name=v", "1 3 name=v")
	waitFor(t, "6 datagrams", func() bool { return l.Stats().Received == 6 })
	send(t, "127.0.0.3", to, "garbage", "1 4 name=v")
	waitFor(t, "8 datagrams", func() bool { return l.Stats().Received == 8 })
	// 127.0.0.2 has used its burst: the rest is dropped, logged once.
	send(t, "127.0.0.2", to, "1 3 name=v", "1 3 name=v", "garbage")
	waitFor(t, "11 datagrams", func() bool { return l.Stats().Received == 11 })

	s := l.Stats()
	want := Stats{Received: 11, Accepted: 3, Malformed: 3, Unknown: 2, RateLimited: 3}
	if s.Received != want.Received || s.Accepted != want.Accepted || s.Malformed != want.Malformed ||
		s.Unknown != want.Unknown || s.RateLimited != want.RateLimited || s.Rejected != 0 {
		t.Errorf("stats %+v, want %+v", s, want)
	}
	if n := len(events()); n != 3 {
		t.Errorf("%d events handled", n)
	}
	for _, tc := range []struct {
		problem, source string
		n               int
	}{
		{"malformed", "127.0.0.2", 1}, {"unknown", "127.0.0.2", 1}, {"rate-limited", "127.0.0.2", 1},
		{"malformed", "127.0.0.3", 1}, {"unknown", "127.0.0.3", 0},
	} {
		n := 0
		rec.mu.Lock()
		for _, r := range rec.records {
			var p, src string
			r.Attrs(func(a slog.Attr) bool {
				switch a.Key {
				case "problem":
					p = a.Value.String()
				case "source":
					src = a.Value.String()
				}
				return true
			})
			if p == tc.problem && src == tc.source {
				n++
			}
		}
		rec.mu.Unlock()
		if n != tc.n {
			t.Errorf("%s from %s logged %d times, want %d", tc.problem, tc.source, n, tc.n)
		}
	}
	for _, lv := range rec.levels() {
		if lv != slog.LevelWarn {
			t.Errorf("logged at %v", lv)
		}
	}
}

func TestListenerRejected(t *testing.T) {
	rec := &recorder{}
	l := listenLoopback(t, Config{Logger: slog.New(rec)})
	var handled int
	h := func(Event, netip.Addr) { handled++ }
	// Sources cannot be forged on a socket: the decision is fed directly.
	for range 3 {
		l.process([]byte("1 3 name=v"), addr("192.0.2.99"), h)
	}
	l.process([]byte("1 3 name=v"), addr("::ffff:192.0.2.98"), h)
	l.SetPeers([]netip.Addr{addr("192.0.2.99")})
	l.process([]byte("1 3 name=v"), addr("192.0.2.99"), h)
	s := l.Stats()
	if s.Rejected != 4 || s.Accepted != 1 || handled != 1 || s.Received != 5 {
		t.Errorf("stats %+v, handled %d", s, handled)
	}
	if n := rec.count("source", "192.0.2.99"); n != 1 {
		t.Errorf("192.0.2.99 logged %d times", n)
	}
	if n := rec.count("source", "192.0.2.98"); n != 1 {
		t.Errorf("::ffff:192.0.2.98 logged %d times as 192.0.2.98", n)
	}
}

func TestLimiter(t *testing.T) {
	lim := newLimiter(10, 5)
	a, b := addr("127.0.0.2"), addr("127.0.0.3")
	t0 := time.Unix(1000, 0)
	n := 0
	for range 100 {
		if lim.allow(a, t0) {
			n++
		}
	}
	if n != 5 {
		t.Errorf("burst: %d allowed, want 5", n)
	}
	if !lim.allow(b, t0) {
		t.Error("a flood from one source starves another")
	}
	if lim.allow(a, t0.Add(50*time.Millisecond)) {
		t.Error("allowed before a token was earned")
	}
	if !lim.allow(a, t0.Add(100*time.Millisecond)) || lim.allow(a, t0.Add(100*time.Millisecond)) {
		t.Error("one token after 100 ms at 10/s")
	}
	n = 0
	for range 100 {
		if lim.allow(a, t0.Add(time.Hour)) {
			n++
		}
	}
	if n != 5 {
		t.Errorf("after a long pause: %d allowed, want the burst of 5", n)
	}
	// The clock going backwards takes nothing away.
	if lim.allow(a, t0) {
		t.Error("allowed with an empty bucket and the clock going backwards")
	}

	unlimited := newLimiter(-1, 0)
	for range 10000 {
		if !unlimited.allow(a, t0) {
			t.Fatal("unlimited limiter refused")
		}
	}
	def := newLimiter(0, 0)
	if def.rate != DefaultRatePerSource || def.burst != DefaultBurst {
		t.Errorf("defaults %v %v", def.rate, def.burst)
	}
}

func TestLimiterBounded(t *testing.T) {
	lim := newLimiter(1, 2)
	t0 := time.Unix(1000, 0)
	for i := range 3 * maxBuckets {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		lim.allow(a, t0)
		lim.allow(a, t0)
	}
	if len(lim.buckets) > maxBuckets {
		t.Errorf("%d buckets", len(lim.buckets))
	}
}

func TestWarnBounded(t *testing.T) {
	rec := &recorder{}
	l := &Listener{log: slog.New(rec)}
	for i := range maxWarned + 100 {
		l.warn(problemRejected, netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), "m")
	}
	if len(l.warned.seen) > maxWarned {
		t.Errorf("%d remembered", len(l.warned.seen))
	}
	if n := len(rec.levels()); n != maxWarned+1 {
		t.Errorf("%d records, want %d and one saying the rest is only counted", n, maxWarned+1)
	}
}

func TestListenerFloodDoesNotStarveOthers(t *testing.T) {
	l := listenLoopback(t, Config{RatePerSource: 1, Burst: 10})
	events := runListener(t, l)
	to := localAddr(t, l, false)
	flood := make([]string, 200)
	for i := range flood {
		flood[i] = fmt.Sprintf("%d 3 name=flood", i+1)
	}
	send(t, "127.0.0.2", to, flood...)
	send(t, "127.0.0.3", to, "1 3 name=quiet", "2 3 name=quiet", "3 3 name=quiet")
	waitFor(t, "the quiet source's events", func() bool {
		n := 0
		for _, r := range events() {
			if r.src == addr("127.0.0.3") {
				n++
			}
		}
		return n == 3
	})
	s := l.Stats()
	flooded := 0
	for _, r := range events() {
		if r.src == addr("127.0.0.2") {
			flooded++
		}
	}
	if flooded > 11 {
		t.Errorf("%d flood events accepted with a burst of 10", flooded)
	}
	if s.RateLimited == 0 || s.RateLimited+uint64(flooded) > 200 {
		t.Errorf("rate-limited %d, accepted from the flood %d", s.RateLimited, flooded)
	}
}

func TestListenerHandleNotConcurrent(t *testing.T) {
	requireIPv6Loopback(t)
	l := listenLoopback(t, Config{RatePerSource: -1})
	var inside, max, total atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- l.Run(ctx, func(Event, netip.Addr) {
			if n := inside.Add(1); n > max.Load() {
				max.Store(n)
			}
			time.Sleep(100 * time.Microsecond)
			inside.Add(-1)
			total.Add(1)
		})
	}()
	var wg sync.WaitGroup
	for _, v6 := range []bool{false, true} {
		from := "127.0.0.1"
		if v6 {
			from = "::1"
		}
		wg.Go(func() {
			for range 50 {
				send(t, from, localAddr(t, l, v6), "1 3 name=v")
			}
		})
	}
	wg.Wait()
	waitFor(t, "100 events", func() bool { return total.Load() == 100 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if max.Load() != 1 {
		t.Errorf("handle ran %d at once", max.Load())
	}
}

func TestListenerRunLifecycle(t *testing.T) {
	l := listenLoopback(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Run(ctx, func(Event, netip.Addr) {}); err != nil {
		t.Errorf("Run with a done context: %v", err)
	}
	if err := l.Run(context.Background(), func(Event, netip.Addr) {}); err == nil {
		t.Error("second Run succeeded")
	}
	if err := l.Close(); err != nil {
		t.Errorf("Close after Run: %v", err)
	}

	// Close while Run reads: it has handled an event.
	l2 := listenLoopback(t, Config{RatePerSource: -1})
	done := make(chan error)
	var handled atomic.Bool
	go func() { done <- l2.Run(context.Background(), func(Event, netip.Addr) { handled.Store(true) }) }()
	waitFor(t, "Run to handle an event", func() bool {
		send(t, "127.0.0.1", localAddr(t, l2, false), "1 3 name=v")
		return handled.Load()
	})
	l2.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after Close: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run did not return after Close")
	}
}

func TestListenPortInUse(t *testing.T) {
	first := listenLoopback(t, Config{})
	port := first.LocalAddrs()[0].(*net.UDPAddr).Port
	_, err := Listen(Config{Port: port, ListenAddrs: []string{"127.0.0.1"}})
	if !errors.Is(err, ErrPortInUse) {
		t.Fatalf("error %v, want ErrPortInUse", err)
	}
	msg := err.Error()
	for _, want := range []string{
		fmt.Sprintf("127.0.0.1:%d", port), "glustereventsd", "systemctl disable --now glustereventsd",
		"--events-port", "55555", fmt.Sprintf("pid %d", os.Getpid()),
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	// Nothing stays bound after a failure.
	if hasIPv6Loopback() {
		probe, err := net.ListenPacket("udp6", "[::1]:0")
		if err != nil {
			t.Fatal(err)
		}
		p6 := probe.LocalAddr().(*net.UDPAddr).Port
		probe.Close()
		_, err = Listen(Config{Port: p6, ListenAddrs: []string{"::1", "::1"}})
		if !errors.Is(err, ErrPortInUse) {
			t.Fatalf("binding ::1 twice: %v", err)
		}
		l, err := Listen(Config{Port: p6, ListenAddrs: []string{"::1"}})
		if err != nil {
			t.Fatalf("port stays bound after a failed Listen: %v", err)
		}
		l.Close()
	}
}

func TestListenConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{Port: -1, ListenAddrs: []string{"127.0.0.1"}},
		{Port: 65536, ListenAddrs: []string{"127.0.0.1"}},
		{ListenAddrs: []string{"localhost"}},
		{ListenAddrs: []string{"127.0.0.1:55555"}},
	} {
		if l, err := Listen(cfg); err == nil {
			l.Close()
			t.Errorf("Listen(%+v) succeeded", cfg)
		}
	}
	l, err := Listen(Config{ListenAddrs: []string{"[::1]"}})
	if err == nil {
		l.Close()
	} else if hasIPv6Loopback() {
		t.Errorf("bracketed address: %v", err)
	}
}

func TestReadConfigPort(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		content string
		want    int
		wantErr bool
	}{
		{`{"log-level": "INFO", "port": 55555, "disable-events-log": false}`, 55555, false},
		{`{"port": 24009}`, 24009, false},
		{`{"log-level": "INFO"}`, DefaultPort, false},
		{`{}`, DefaultPort, false},
		{`{"port": "55555"}`, 0, true},
		{`{"port": 55555.5}`, 0, true},
		{`{"port": 0}`, 0, true},
		{`{"port": 70000}`, 0, true},
		{`{"port": null}`, 0, true},
		{`{"port": 1} {}`, 0, true},
		{`[55555]`, 0, true},
		{`null`, 0, true},
		{`{"port": 555`, 0, true},
		{``, 0, true},
	} {
		got, err := ReadConfigPort(write("c.json", tc.content))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("%s: %d, %v; want %d, error %v", tc.content, got, err, tc.want, tc.wantErr)
		}
	}
	if got, err := ReadConfigPort(filepath.Join(dir, "missing.json")); err != nil || got != DefaultPort {
		t.Errorf("missing file: %d, %v", got, err)
	}
	if _, err := ReadConfigPort(dir); err == nil {
		t.Error("a directory read as a config file")
	}
}

func TestReadInstalledConfigPort(t *testing.T) {
	if _, err := os.Stat(DefaultConfigPath); err != nil {
		testbed.Missing(t, "%s", DefaultConfigPath+" is not installed")
	}
	if _, err := ReadConfigPort(DefaultConfigPath); err != nil {
		t.Error(err)
	}
}
