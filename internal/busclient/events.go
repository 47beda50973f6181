package busclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/busapi"
)

// Event is one journaled event as GetEvents and the Event signal carry it.
type Event struct {
	Seq    uint64            `json:"seq"`
	Name   string            `json:"name"`
	Time   time.Time         `json:"time"`
	Node   string            `json:"node"`
	Object string            `json:"object"`
	Fields map[string]string `json:"fields"`
}

// eventsPage is how many events one GetEvents call asks for.
const eventsPage = 1000

// Events calls emit for every journaled event after since, in sequence
// order; with follow, it then goes on with the Event signal until ctx ends,
// with no gap and no duplicate: it subscribes first, catches up through
// GetEvents, and fills any gap in the signals from the journal. It takes
// Event signals only from the current owner of the bus name, so no other
// client can inject events, and when the daemon comes back (a new owner),
// it catches up with what that one journaled before.
func Events(ctx context.Context, conn *dbus.Conn, since uint64, follow bool, emit func(Event) error) error {
	if !follow {
		_, err := catchUp(ctx, conn, since, emit)
		return err
	}
	rules := [][]dbus.MatchOption{
		{dbus.WithMatchSender(busapi.BusName), dbus.WithMatchObjectPath(busapi.ManagerPath),
			dbus.WithMatchInterface(busapi.ManagerInterface), dbus.WithMatchMember("Event")},
		{dbus.WithMatchSender(busDriver), dbus.WithMatchInterface(busDriver),
			dbus.WithMatchMember("NameOwnerChanged"), dbus.WithMatchArg(0, busapi.BusName)},
	}
	for _, r := range rules {
		if err := conn.AddMatchSignalContext(ctx, r...); err != nil {
			return err
		}
		defer func() { _ = conn.RemoveMatchSignal(r...) }()
	}
	sigs := make(chan *dbus.Signal, 4096)
	conn.Signal(sigs)
	defer conn.RemoveSignal(sigs)
	var owner string
	err := conn.BusObject().CallWithContext(ctx, busDriver+".GetNameOwner", 0, busapi.BusName).Store(&owner)
	if noOwner(err) {
		return ErrNoDaemon
	}
	if err != nil {
		return fmt.Errorf("asking for the owner of %s: %w", busapi.BusName, err)
	}
	last, err := catchUp(ctx, conn, since, emit)
	if err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case s, ok := <-sigs:
			if !ok {
				return fmt.Errorf("the bus connection closed")
			}
			switch {
			case s.Name == nameOwnerChanged && s.Sender == busDriver:
				var name, prev, next string
				if dbus.Store(s.Body, &name, &prev, &next) != nil || name != busapi.BusName {
					continue
				}
				owner = next
				if owner == "" {
					continue
				}
				// What the new daemon journaled before we saw its signals.
				if last, err = catchUp(ctx, conn, last, emit); err != nil && !errors.Is(err, ErrNoDaemon) {
					return err
				}
			case s.Name == busapi.ManagerInterface+".Event" && owner != "" && s.Sender == owner:
				if last, err = takeSignal(ctx, conn, s, last, emit); err != nil {
					return err
				}
			}
		}
	}
}

// takeSignal emits the event of a genuine Event signal if it is new, first
// filling any gap from the journal, and returns the last sequence emitted.
func takeSignal(ctx context.Context, conn *dbus.Conn, s *dbus.Signal, last uint64, emit func(Event) error) (uint64, error) {
	ev, err := eventFromBody(s.Body)
	if err != nil || ev.Seq <= last {
		return last, nil
	}
	if ev.Seq > last+1 { // signals were missed: the journal has them
		if last, err = catchUp(ctx, conn, last, emit); err != nil {
			return last, err
		}
		if ev.Seq <= last {
			return last, nil
		}
	}
	if err := emit(ev); err != nil {
		return last, err
	}
	return ev.Seq, nil
}

// catchUp emits the journaled events after since and returns the last
// sequence emitted (since if none).
func catchUp(ctx context.Context, conn *dbus.Conn, since uint64, emit func(Event) error) (uint64, error) {
	mgr := conn.Object(busapi.BusName, busapi.ManagerPath)
	for {
		var page [][]any
		call := mgr.CallWithContext(ctx, busapi.ManagerInterface+".GetEvents", 0, since, uint32(eventsPage), map[string]dbus.Variant{})
		if noOwner(call.Err) {
			return since, ErrNoDaemon
		}
		if call.Err != nil {
			return since, fmt.Errorf("reading events: %w", call.Err)
		}
		if err := call.Store(&page); err != nil {
			return since, err
		}
		for _, rec := range page {
			ev, err := eventFromBody(rec)
			if err != nil {
				return since, err
			}
			if err := emit(ev); err != nil {
				return since, err
			}
			since = ev.Seq
		}
		if len(page) < eventsPage {
			return since, nil
		}
	}
}

func eventFromBody(body []any) (Event, error) {
	var (
		ev   Event
		usec int64
		obj  dbus.ObjectPath
	)
	if err := dbus.Store(body, &ev.Seq, &ev.Name, &usec, &ev.Node, &obj, &ev.Fields); err != nil {
		return ev, fmt.Errorf("malformed event: %w", err)
	}
	ev.Time = time.UnixMicro(usec)
	if obj != "/" {
		ev.Object = string(obj)
	}
	return ev, nil
}

// WriteEventText writes one event as a line: sequence, time, source, name,
// object (shortened) and the fields sorted by key.
func WriteEventText(w io.Writer, ev Event) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s %s %s", ev.Seq, ev.Time.Format("2006-01-02T15:04:05.000000Z07:00"), ev.Fields["source"], ev.Name)
	if ev.Object != "" {
		b.WriteString(" " + strings.TrimPrefix(ev.Object, string(busapi.GlusterPath)+"/"))
	}
	for _, k := range slices.Sorted(maps.Keys(ev.Fields)) {
		if k != "source" {
			fmt.Fprintf(&b, " %s=%q", k, ev.Fields[k])
		}
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteEventJSON writes one event as a JSON line.
func WriteEventJSON(w io.Writer, ev Event) error {
	return json.NewEncoder(w).Encode(ev)
}
