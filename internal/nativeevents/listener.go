package nativeevents

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// DefaultPort is where GlusterFS sends its events. Its C processes
// (glusterd, the CLI, bricks, clients) always send there; only its Python
// tools read the port from eventsconfig.json.
const DefaultPort = 55555

// Defaults of Config.
const (
	DefaultRatePerSource = 200  // events per second
	DefaultBurst         = 1000 // starting a big volume sends a few events per brick and client at once
)

// Config configures a Listener.
type Config struct {
	// Port is the UDP port on every address; 0 picks a free one (the same
	// on all addresses).
	Port int
	// ListenAddrs are the IP addresses to bind. Empty means all of IPv4
	// and IPv6 ("0.0.0.0" and "::"); an address family the machine lacks
	// is then skipped with a warning. Explicit addresses must all bind.
	ListenAddrs []string
	// Allow lists networks whose datagrams are accepted in addition to
	// loopback and the addresses given to SetPeers.
	Allow []netip.Prefix
	// RatePerSource is the sustained rate, in events per second, accepted
	// from one source address; 0 means DefaultRatePerSource, a negative
	// value no limit.
	RatePerSource float64
	// Burst is how many events one source may send at once; 0 means
	// DefaultBurst.
	Burst int
	// Logger receives a warning the first time each kind of problem comes
	// from a source; nil discards them.
	Logger *slog.Logger
}

// Stats counts what a Listener received. Once processed, every datagram
// received is counted in exactly one of Accepted, Malformed, Unknown,
// Rejected and RateLimited.
type Stats struct {
	Received    uint64 // datagrams read
	Accepted    uint64 // passed to the handler
	Malformed   uint64 // not a native event datagram
	Unknown     uint64 // well formed, number outside the event table
	Rejected    uint64 // from a source that is not allowed
	RateLimited uint64 // over the source's rate
	ReadErrors  uint64 // socket read errors (not datagrams)
	// Events counts the accepted events by name; only names seen appear.
	Events map[string]uint64
}

// ErrPortInUse reports that another process holds the events port.
var ErrPortInUse = errors.New("events port already in use")

// Listener receives native events on UDP.
type Listener struct {
	conns   []*net.UDPConn
	allow   []netip.Prefix
	peers   atomic.Pointer[map[netip.Addr]struct{}]
	limiter *limiter
	log     *slog.Logger
	warned  warnings
	running atomic.Bool

	closeOnce sync.Once
	closeErr  error

	received, accepted, malformed, unknown, rejected, rateLimited, readErrors atomic.Uint64
	perEvent                                                                  [Count]atomic.Uint64
}

// Listen binds the events port on every address of cfg, by default on all
// of IPv4 and IPv6.
//
// If the port is taken, the error wraps ErrPortInUse and says which process
// holds it when that can be found out (glustereventsd, most of the time).
func Listen(cfg Config) (*Listener, error) {
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("events port %d out of range", cfg.Port)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	explicit := len(cfg.ListenAddrs) > 0
	texts := cfg.ListenAddrs
	if !explicit {
		texts = []string{"0.0.0.0", "::"}
	}
	addrs := make([]netip.Addr, 0, len(texts))
	for _, t := range texts {
		a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(t, "["), "]"))
		if err != nil {
			return nil, fmt.Errorf("events listen address %q: %w", t, err)
		}
		addrs = append(addrs, a)
	}
	l := &Listener{
		log:     log,
		limiter: newLimiter(cfg.RatePerSource, cfg.Burst),
	}
	for _, p := range cfg.Allow {
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		l.allow = append(l.allow, p.Masked())
	}
	empty := map[netip.Addr]struct{}{}
	l.peers.Store(&empty)

	var err error
	for attempt := 0; ; attempt++ {
		l.conns, err = bindAll(addrs, cfg.Port, explicit, log)
		// With port 0, the port picked on the first address may be taken
		// on another: try again.
		if cfg.Port == 0 && errors.Is(err, syscall.EADDRINUSE) && attempt < 20 {
			continue
		}
		break
	}
	if err != nil {
		return nil, err
	}
	return l, nil
}

func bindAll(addrs []netip.Addr, port int, explicit bool, log *slog.Logger) ([]*net.UDPConn, error) {
	var conns []*net.UDPConn
	fail := func(err error) ([]*net.UDPConn, error) {
		for _, c := range conns {
			c.Close()
		}
		return nil, err
	}
	for _, a := range addrs {
		network := "udp6"
		if a.Unmap().Is4() {
			network, a = "udp4", a.Unmap()
		}
		ap := netip.AddrPortFrom(a, uint16(port))
		c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(ap))
		switch {
		case err == nil:
			growReadBuffer(c, log)
			conns = append(conns, c)
			if port == 0 {
				port = c.LocalAddr().(*net.UDPAddr).Port
			}
		case errors.Is(err, syscall.EADDRINUSE):
			return fail(portInUse(ap, err))
		case !explicit:
			log.Warn("cannot listen for native events on this address family; skipping it",
				"address", ap.String(), "error", err)
		default:
			return fail(fmt.Errorf("listening for native events on UDP %s: %w", ap, err))
		}
	}
	if len(conns) == 0 {
		return nil, fmt.Errorf("listening for native events on port %d: no address could be bound", port)
	}
	return conns, nil
}

// readBuffer is the socket receive buffer asked for: a burst of datagrams
// (a volume start sends a dozen at once; a client storm, thousands) must
// wait in the kernel while the reader is busy rather than be dropped there.
const readBuffer = 8 << 20

// growReadBuffer enlarges the socket's receive buffer, past the system's
// rmem_max where the process may (root), else as far as it allows.
func growReadBuffer(c *net.UDPConn, log *slog.Logger) {
	raw, err := c.SyscallConn()
	if err == nil {
		var serr error
		err = raw.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, readBuffer)
		})
		if err == nil && serr == nil {
			return
		}
	}
	if err := c.SetReadBuffer(readBuffer); err != nil {
		log.Warn("cannot enlarge the events socket's receive buffer", "error", err)
	}
}

// portInUse explains an EADDRINUSE.
func portInUse(ap netip.AddrPort, err error) error {
	holder := "another process holds it"
	if h := portHolder(int(ap.Port())); h != "" {
		holder = "another process holds it (" + h + ")"
	}
	return fmt.Errorf("%w: cannot listen on UDP %s: %s. "+
		"That is usually glustereventsd, GlusterFS's own events daemon, which this daemon replaces: "+
		"stop and disable it (systemctl disable --now glustereventsd), "+
		"or choose another port with --events-port (GlusterFS's C processes always send to port %d, "+
		"so only the events of its Python tools would arrive there): %w",
		ErrPortInUse, ap, holder, DefaultPort, err)
}

// LocalAddrs returns the bound addresses.
func (l *Listener) LocalAddrs() []net.Addr {
	out := make([]net.Addr, len(l.conns))
	for i, c := range l.conns {
		out[i] = c.LocalAddr()
	}
	return out
}

// SetPeers replaces the addresses, besides loopback and Config.Allow, whose
// datagrams are accepted: the cluster's peers' and this host's own (bricks
// and local mounts send from those). It may be called at any time, also
// while Run runs.
func (l *Listener) SetPeers(addrs []netip.Addr) {
	m := make(map[netip.Addr]struct{}, len(addrs))
	for _, a := range addrs {
		m[a.Unmap().WithZone("")] = struct{}{}
	}
	l.peers.Store(&m)
}

// Allowed reports whether datagrams from src are accepted.
func (l *Listener) Allowed(src netip.Addr) bool {
	return allowed(src, *l.peers.Load(), l.allow)
}

// allowed is the source check: loopback, an address given to SetPeers, or
// within an allowed network.
func allowed(src netip.Addr, peers map[netip.Addr]struct{}, allow []netip.Prefix) bool {
	src = src.Unmap().WithZone("")
	if !src.IsValid() {
		return false
	}
	if src.IsLoopback() {
		return true
	}
	if _, ok := peers[src]; ok {
		return true
	}
	for _, p := range allow {
		if p.Contains(src) {
			return true
		}
	}
	return false
}

// Stats returns the counters so far.
func (l *Listener) Stats() Stats {
	s := Stats{
		Received:    l.received.Load(),
		Accepted:    l.accepted.Load(),
		Malformed:   l.malformed.Load(),
		Unknown:     l.unknown.Load(),
		Rejected:    l.rejected.Load(),
		RateLimited: l.rateLimited.Load(),
		ReadErrors:  l.readErrors.Load(),
		Events:      map[string]uint64{},
	}
	for i := range l.perEvent {
		if n := l.perEvent[i].Load(); n > 0 {
			s.Events[eventNames[i]] = n
		}
	}
	return s
}

// Close closes the sockets; a running Run returns.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		var errs []error
		for _, c := range l.conns {
			errs = append(errs, c.Close())
		}
		l.closeErr = errors.Join(errs...)
	})
	return l.closeErr
}

// Run reads datagrams until ctx is done or the Listener is closed, and
// calls handle for each accepted, well-formed event of a known number with
// the source address. handle is never called concurrently and should
// return quickly: datagrams wait in the kernel meanwhile. Run closes the
// Listener when it returns, and returns nil then; it may be called once.
//
// Problems (a source not allowed, over its rate, a malformed datagram, an
// unknown event number) are counted, and logged once per kind and source.
func (l *Listener) Run(ctx context.Context, handle func(Event, netip.Addr)) error {
	if !l.running.CompareAndSwap(false, true) {
		return errors.New("native events listener: Run called twice")
	}
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	defer l.Close()
	var mu sync.Mutex
	serial := func(ev Event, src netip.Addr) {
		mu.Lock()
		defer mu.Unlock()
		handle(ev, src)
	}
	var wg sync.WaitGroup
	for _, c := range l.conns {
		wg.Go(func() { l.serve(c, serial) })
	}
	wg.Wait()
	return nil
}

func (l *Listener) serve(c *net.UDPConn, handle func(Event, netip.Addr)) {
	buf := make([]byte, MaxDatagramSize+1)
	for {
		n, ap, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			l.readErrors.Add(1)
			l.warn(problemRead, netip.Addr{}, "reading native events failed; retrying", "address", c.LocalAddr().String(), "error", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		l.process(buf[:n], ap.Addr(), handle)
	}
}

// process takes one datagram through the checks.
func (l *Listener) process(data []byte, src netip.Addr, handle func(Event, netip.Addr)) {
	l.received.Add(1)
	src = src.Unmap()
	if !allowed(src, *l.peers.Load(), l.allow) {
		l.rejected.Add(1)
		l.warn(problemRejected, src, "native event from a source that is neither this host, a cluster peer nor an allowed network; ignoring its events",
			"source", src.String())
		return
	}
	if !l.limiter.allow(src.WithZone(""), time.Now()) {
		l.rateLimited.Add(1)
		l.warn(problemRateLimited, src, "too many native events from one source; dropping those over the rate",
			"source", src.String(), "rate_per_second", l.limiter.rate, "burst", l.limiter.burst)
		return
	}
	ev, err := Parse(data)
	if err != nil {
		if errors.Is(err, ErrUnknownEvent) {
			l.unknown.Add(1)
			l.warn(problemUnknown, src, "native event of a number this GlusterFS does not define; ignoring such events",
				"source", src.String(), "error", err.Error())
		} else {
			l.malformed.Add(1)
			l.warn(problemMalformed, src, "malformed native event; ignoring it",
				"source", src.String(), "error", err.Error())
		}
		return
	}
	l.accepted.Add(1)
	l.perEvent[ev.Number].Add(1)
	handle(ev, src)
}

// problem is a kind of trouble logged once per source.
type problem int

const (
	problemRejected problem = iota
	problemRateLimited
	problemMalformed
	problemUnknown
	problemRead
)

func (p problem) String() string {
	return [...]string{"rejected", "rate-limited", "malformed", "unknown", "read-error"}[p]
}

// maxWarned bounds the memory of which sources were logged: past it,
// problems from new sources are only counted.
const maxWarned = 4096

type warnings struct {
	mu   sync.Mutex
	seen map[warnKey]struct{}
	full bool
}

type warnKey struct {
	p   problem
	src netip.Addr
}

// warn logs msg the first time p comes from src.
func (l *Listener) warn(p problem, src netip.Addr, msg string, args ...any) {
	w := &l.warned
	k := warnKey{p, src.WithZone("")}
	w.mu.Lock()
	if _, ok := w.seen[k]; ok || w.full {
		w.mu.Unlock()
		return
	}
	if w.seen == nil {
		w.seen = make(map[warnKey]struct{})
	}
	w.seen[k] = struct{}{}
	full := len(w.seen) >= maxWarned
	w.full = full
	w.mu.Unlock()
	l.log.Warn(msg, append(args, "problem", p.String(), "note", "further "+p.String()+" events from this source are only counted")...)
	if full {
		l.log.Warn("native event problems came from " + strconv.Itoa(maxWarned) + " sources; problems from further sources are only counted")
	}
}

// limiter is a token bucket per source address.
type limiter struct {
	rate, burst float64 // rate < 0: no limit

	mu      sync.Mutex
	buckets map[netip.Addr]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// maxBuckets bounds the limiter's memory; idle sources are forgotten first.
const maxBuckets = 4096

func newLimiter(rate float64, burst int) *limiter {
	if rate == 0 {
		rate = DefaultRatePerSource
	}
	if burst <= 0 {
		burst = DefaultBurst
	}
	return &limiter{rate: rate, burst: float64(burst), buckets: map[netip.Addr]*bucket{}}
}

// allow takes a token from src's bucket.
func (l *limiter) allow(src netip.Addr, now time.Time) bool {
	if l.rate < 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[src]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			l.evict(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[src] = b
	}
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = min(l.burst, b.tokens+dt*l.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}

// evict forgets the sources whose buckets are full again (a new bucket
// starts full: nothing is lost), then, if that is not enough, any half.
func (l *limiter) evict(now time.Time) {
	for a, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, a)
		}
	}
	for a := range l.buckets {
		if len(l.buckets) < maxBuckets/2 {
			break
		}
		delete(l.buckets, a)
	}
}
