package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/events"
	"github.com/glusterbus/glusterbus/internal/exporter"
	"github.com/glusterbus/glusterbus/internal/journal"
	"github.com/glusterbus/glusterbus/internal/nativeevents"
	"github.com/glusterbus/glusterbus/internal/refresh"
	"github.com/glusterbus/glusterbus/internal/state"
)

// Limits of GetEvents.
const (
	defaultEventsPage = 1000
	maxEventsPage     = 10000
)

// objectPath is the D-Bus path of a state object, as events carry it.
func objectPath(r state.Ref) string { return string(exporter.Path(r)) }

// eventArgs is an event as the Event signal and GetEvents carry it.
func eventArgs(ev journal.Event) (uint64, string, int64, string, dbus.ObjectPath, map[string]string) {
	obj := dbus.ObjectPath(ev.Object)
	if obj == "" || !obj.IsValid() {
		obj = "/"
	}
	fields := make(map[string]string, len(ev.Fields)+1)
	for _, f := range ev.Fields {
		fields[f.Key] = f.Value
	}
	fields["source"] = ev.Source
	return ev.Seq, ev.Name, ev.Time.UnixMicro(), ev.Node, obj, fields
}

// eventRecord is the D-Bus struct (tsxsoa{ss}) of GetEvents.
type eventRecord struct {
	Seq    uint64
	Name   string
	Usec   int64
	Node   string
	Object dbus.ObjectPath
	Fields map[string]string
}

// registerEventMethods implements GetEvents and LastSequence.
func registerEventMethods(exp *exporter.Exporter, j *journal.Journal) {
	exp.Handle(exporter.ManagerInterface, "GetEvents", &exporter.Method{
		In: []any{uint64(0), uint32(0), map[string]dbus.Variant{}},
		Handle: func(c *exporter.Call) ([]any, error) {
			since, limit := c.Args[0].(uint64), int(c.Args[1].(uint32))
			if limit == 0 {
				limit = defaultEventsPage
			}
			evs, err := j.Range(since, min(limit, maxEventsPage))
			if err != nil {
				return nil, exporter.Errorf(exporter.ErrorFailed, "reading the journal: %v", err)
			}
			out := make([]eventRecord, len(evs))
			for i, ev := range evs {
				r := &out[i]
				r.Seq, r.Name, r.Usec, r.Node, r.Object, r.Fields = eventArgs(ev)
			}
			return []any{out}, nil
		},
	})
	exp.Handle(exporter.ManagerInterface, "LastSequence", &exporter.Method{
		In:     []any{map[string]dbus.Variant{}},
		Handle: func(*exporter.Call) ([]any, error) { return []any{j.LastSeq()}, nil },
	})
}

// emitEvent sends the Event signal for one journaled event.
func emitEvent(exp *exporter.Exporter) func(journal.Event) {
	return func(ev journal.Event) {
		seq, name, usec, node, obj, fields := eventArgs(ev)
		exp.Emit(exporter.ManagerPath, exporter.ManagerInterface+".Event", seq, name, usec, node, obj, fields)
	}
}

// runtimeEvents are native events about bricks' runtime: they call for a
// `volume status` read, not a configuration read.
var runtimeEvents = map[string]bool{
	"BRICK_CONNECTED": true, "BRICK_DISCONNECTED": true,
	"QUORUM_LOST": true, "QUORUM_REGAINED": true,
	"AFR_QUORUM_MET": true, "AFR_QUORUM_FAIL": true,
	"EC_MIN_BRICKS_UP": true, "EC_MIN_BRICKS_NOT_UP": true,
}

// readKind is the read a native event calls for.
type readKind int

const (
	readNothing readKind = iota
	readVolume           // the volume's configuration, its runtime once quiet
	readRuntime          // the volume's bricks' runtime, once quiet
	readPeers            // the peers, and with them their bricks' reachability
	readAll              // everything
)

// readFor says what to read after a native event, and for which volume.
func readFor(ev nativeevents.Event) (readKind, string) {
	switch kind, vol := ev.Trigger(); kind {
	case nativeevents.TriggerVolume:
		if runtimeEvents[ev.Name] {
			return readRuntime, vol
		}
		return readVolume, vol
	case nativeevents.TriggerPeers:
		return readPeers, ""
	case nativeevents.TriggerAll:
		return readAll, ""
	}
	return readNothing, ""
}

// brickEvent reads glusterd's BRICK_CONNECTED and BRICK_DISCONNECTED
// (peer=HOST;volume=VOL;brick=PATH): glusterd's own connection to a brick
// process came up or went down, which tells the brick's state at once.
func brickEvent(ev nativeevents.Event) (volume, brick string, connected, ok bool) {
	switch ev.Name {
	case "BRICK_CONNECTED":
		connected = true
	case "BRICK_DISCONNECTED":
	default:
		return "", "", false, false
	}
	host, _ := ev.Get("peer")
	path, _ := ev.Get("brick")
	volume, _ = ev.Get("volume")
	if host == "" || path == "" || volume == "" {
		return "", "", false, false
	}
	return volume, host + ":" + path, connected, true
}

// nativeHandler journals each native event and triggers the refresh it
// implies. Events the queue refuses are counted (see reportLoss).
func nativeHandler(w *events.Writer, ref *refresh.Refresher, model *state.Model, log *slog.Logger) func(nativeevents.Event, netip.Addr) {
	return func(ev nativeevents.Event, from netip.Addr) {
		w.Offer(events.FromNative(ev, model.Glusterd().UUID, objectPath))
		if vol, ok := ev.SplitBrainVolume(); ok {
			ref.TriggerHealInfo(vol)
		}
		if ev.IsSnapshot() {
			ref.TriggerSnapshots()
		}
		if ev.IsGeoRep() {
			ref.TriggerGeoRep()
		}
		if vol, ok := quotaEventVolume(ev); ok {
			ref.TriggerQuota(vol)
		}
		if vol, brick, connected, ok := brickEvent(ev); ok {
			ref.NoteBrick(vol, brick, connected)
			return
		}
		switch kind, vol := readFor(ev); kind {
		case readVolume:
			ref.TriggerNamedVolume(vol)
		case readRuntime:
			ref.TriggerNamedRuntime(vol)
		case readPeers:
			ref.TriggerPeers()
		case readAll:
			ref.TriggerAll()
		}
	}
}

// How often this host's addresses and the peers' names are read again
// without a change of peers: addresses come and go (DHCP, failover).
const sourcesRecheck = time.Minute

// How long resolving one peer's name may take.
const resolveTimeout = 5 * time.Second

// nativeSources keeps the native listener's allowed sources in step with
// this host's addresses and the peers.
func (d *daemon) nativeSources() component {
	var s *sources
	return component{
		name: "native sources",
		start: func(ctx context.Context) error {
			if d.listener == nil {
				return nil
			}
			s = newSources(d.listener, d.model, d.log)
			s.update(ctx)
			d.model.AddSink(s)
			return nil
		},
		run: func(ctx context.Context) error {
			if s != nil {
				s.run(ctx, sourcesRecheck)
			}
			return nil
		},
	}
}

// nativeLossReport logs the native events lost; its last report is made
// once the listener has stopped.
func (d *daemon) nativeLossReport() component {
	return component{
		name: "native loss report",
		run: func(ctx context.Context) error {
			if d.listener != nil {
				l, w := d.listener, d.writer
				reportLoss(ctx, func() nativeLoss { return lossOf(l.Stats(), w.Refused()) }, time.Second, lossReportEvery, d.log)
			}
			return nil
		},
	}
}

// sources keeps the native listener's allow-list (besides loopback and
// --events-allow) to this host's own addresses, which bricks and local
// mounts send from, and the peers' addresses.
type sources struct {
	l     *nativeevents.Listener
	model *state.Model
	log   *slog.Logger
	kick  chan struct{} // a change of peers; one pending is enough

	// Used by update only, which run serializes.
	unresolved map[string]bool // peer names that did not resolve, logged once
	noIfaces   bool            // reading the interfaces failed, logged once
}

func newSources(l *nativeevents.Listener, model *state.Model, log *slog.Logger) *sources {
	return &sources{l: l, model: model, log: log, kick: make(chan struct{}, 1), unresolved: map[string]bool{}}
}

// Apply implements state.Sink; it only looks at peers, and leaves the
// resolving to run, outside the model's lock.
func (s *sources) Apply(changes []state.Change) {
	for _, c := range changes {
		if c.Ref.Kind == state.KindPeer {
			select {
			case s.kick <- struct{}{}:
			default:
			}
			return
		}
	}
}

// run updates the allow-list after each change of peers and every recheck,
// one update at a time, so a slow one never overwrites a newer one.
func (s *sources) run(ctx context.Context, recheck time.Duration) {
	t := time.NewTicker(recheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		case <-t.C:
		}
		s.update(ctx)
	}
}

// update reads the addresses now allowed and gives them to the listener.
func (s *sources) update(ctx context.Context) {
	addrs, err := hostAddrs()
	switch {
	case err != nil && !s.noIfaces:
		s.log.Warn("cannot read this host's addresses; native events its bricks and mounts send from them are refused", "err", err)
	case err == nil && s.noIfaces:
		s.log.Info("this host's addresses can be read again")
	}
	s.noIfaces = err != nil
	for _, peer := range s.model.Peers() {
		addrs = append(addrs, s.peerAddrs(ctx, peer)...)
	}
	s.l.SetPeers(addrs)
}

// peerAddrs returns the addresses of the peer's names.
func (s *sources) peerAddrs(ctx context.Context, peer state.Peer) []netip.Addr {
	var out []netip.Addr
	for _, h := range append([]string{peer.Hostname}, peer.Hostnames...) {
		if h = strings.TrimSpace(h); h == "" {
			continue
		}
		if a, err := netip.ParseAddr(h); err == nil {
			out = append(out, a)
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, resolveTimeout)
		ips, err := net.DefaultResolver.LookupNetIP(rctx, "ip", h)
		cancel()
		if err != nil || len(ips) == 0 {
			if !s.unresolved[h] && ctx.Err() == nil {
				s.unresolved[h] = true
				s.log.Warn("cannot resolve a peer's name; native events from it are refused until it resolves",
					"peer", h, "uuid", peer.UUID, "err", err)
			}
			continue
		}
		delete(s.unresolved, h)
		out = append(out, ips...)
	}
	return out
}

// hostAddrs returns this host's addresses but loopback (always allowed).
func hostAddrs() ([]netip.Addr, error) {
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, ia := range ifaddrs {
		n, ok := ia.(*net.IPNet)
		if !ok {
			continue
		}
		if a, ok := netip.AddrFromSlice(n.IP); ok && !a.Unmap().IsLoopback() {
			out = append(out, a.Unmap())
		}
	}
	return out, nil
}

// lossReportEvery is the least time between two lines about native events
// lost.
const lossReportEvery = 10 * time.Second

// nativeLoss counts native events lost, by reason.
type nativeLoss struct {
	RateLimited, Malformed, Unknown, Rejected, QueueFull uint64
}

func lossOf(st nativeevents.Stats, refused uint64) nativeLoss {
	return nativeLoss{RateLimited: st.RateLimited, Malformed: st.Malformed, Unknown: st.Unknown,
		Rejected: st.Rejected, QueueFull: refused}
}

func (n nativeLoss) minus(o nativeLoss) nativeLoss {
	return nativeLoss{n.RateLimited - o.RateLimited, n.Malformed - o.Malformed, n.Unknown - o.Unknown,
		n.Rejected - o.Rejected, n.QueueFull - o.QueueFull}
}

// reportLoss looks at the counts every poll and, when native events were
// lost, logs how many for each reason since the last line, at most one
// line every `every`; what is left at the end is logged then. The
// listener's own warnings say once per source what is wrong; this says how
// much is lost.
func reportLoss(ctx context.Context, count func() nativeLoss, poll, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(poll)
	defer t.Stop()
	var reported nativeLoss
	last := time.Now()
	report := func(force bool) {
		now, cur := time.Now(), count()
		d := cur.minus(reported)
		if d == (nativeLoss{}) || (!force && now.Sub(last) < every && reported != (nativeLoss{})) {
			return
		}
		log.Warn("native events dropped",
			"rate_limited", d.RateLimited, "malformed", d.Malformed, "unknown", d.Unknown,
			"rejected", d.Rejected, "queue_full", d.QueueFull,
			"over", now.Sub(last).Round(time.Second).String())
		reported, last = cur, now
	}
	for {
		select {
		case <-ctx.Done():
			report(true)
			return
		case <-t.C:
			report(false)
		}
	}
}

// parsePrefixes reads --events-allow values (CIDR or single addresses).
func parsePrefixes(values []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range values {
		for _, s := range strings.Split(v, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			if p, err := netip.ParsePrefix(s); err == nil {
				out = append(out, p.Masked())
				continue
			}
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("--events-allow %q: not a network or address", s)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return out, nil
}
