package daemon

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"

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

// nativeHandler journals each native event and triggers the refresh it
// implies.
func nativeHandler(w *events.Writer, ref *refresh.Refresher, model *state.Model, log *slog.Logger) func(nativeevents.Event, netip.Addr) {
	return func(ev nativeevents.Event, from netip.Addr) {
		if !w.Offer(events.FromNative(ev, model.Glusterd().UUID, objectPath)) {
			log.Debug("event queue full; native event refused", "event", ev.Name, "from", from)
		}
		switch kind, vol := ev.Trigger(); {
		case kind == nativeevents.TriggerVolume && runtimeEvents[ev.Name]:
			ref.TriggerRuntime(vol)
		case kind == nativeevents.TriggerVolume:
			ref.TriggerVolume(vol)
		case kind == nativeevents.TriggerAll:
			ref.TriggerAll()
		}
	}
}

// peerAddrs keeps the native listener's allow-list in step with the peers.
type peerAddrs struct {
	l     *nativeevents.Listener
	model *state.Model
}

// Apply implements state.Sink; it only looks at peers, and resolves names
// outside the model's lock.
func (p *peerAddrs) Apply(changes []state.Change) {
	for _, c := range changes {
		if c.Ref.Kind == state.KindPeer {
			go p.update()
			return
		}
	}
}

func (p *peerAddrs) update() {
	var addrs []netip.Addr
	for _, peer := range p.model.Peers() {
		for _, h := range append([]string{peer.Hostname}, peer.Hostnames...) {
			if a, err := netip.ParseAddr(h); err == nil {
				addrs = append(addrs, a)
				continue
			}
			ips, _ := net.LookupIP(h)
			for _, ip := range ips {
				if a, ok := netip.AddrFromSlice(ip); ok {
					addrs = append(addrs, a.Unmap())
				}
			}
		}
	}
	p.l.SetPeers(addrs)
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
