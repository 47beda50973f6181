package busclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/busapi"
)

const (
	busDriver           = "org.freedesktop.DBus"
	nameOwnerChanged    = busDriver + ".NameOwnerChanged"
	interfacesAdded     = "org.freedesktop.DBus.ObjectManager.InterfacesAdded"
	interfacesRemoved   = "org.freedesktop.DBus.ObjectManager.InterfacesRemoved"
	propertiesInterface = "org.freedesktop.DBus.Properties"
	propertiesChanged   = propertiesInterface + ".PropertiesChanged"
)

// mainProps are the properties an "Added" line shows; other interfaces
// show all of theirs.
var mainProps = map[string][]string{
	busapi.GlusterdInterface: {"Version", "Running"},
	busapi.VolumeInterface:   {"Name", "Status", "Type", "Health"},
	busapi.BrickInterface:    {"Name", "State"},
	busapi.PeerInterface:     {"Hostname", "Connected", "State"},
	busapi.GeoRepInterface:   {"Volume", "Secondary", "Status"},
}

// Monitor prints one line per change the daemon signals until ctx ends,
// each starting with the time:
//
//	Added volume/gv0 (org.storaged.Storaged.GlusterFS.Volume) Name=gv0 Status=Created ...
//	volume/gv0: Status: Created -> Started
//	Removed volume/gv0 (org.storaged.Storaged.GlusterFS.Volume)
//
// and any other signal of the Manager.GlusterFS interface (such as Event)
// as its member name and arguments. It subscribes before reading the
// objects, so nothing is missed in between, and keeps the objects to know
// old values; it prints only what changes that copy, so a signal the first
// read already saw is not printed twice. When the daemon leaves the bus or
// comes back, it says so, and on return it re-reads the objects and prints
// what differs from before. It returns nil when ctx ends.
func Monitor(ctx context.Context, conn *dbus.Conn, w io.Writer) error {
	rules := [][]dbus.MatchOption{
		{dbus.WithMatchSender(busapi.BusName)},
		{dbus.WithMatchSender(busDriver), dbus.WithMatchInterface(busDriver),
			dbus.WithMatchMember("NameOwnerChanged"), dbus.WithMatchArg(0, busapi.BusName)},
	}
	for _, r := range rules {
		if err := conn.AddMatchSignalContext(ctx, r...); err != nil {
			return fmt.Errorf("subscribing to the signals of %s: %w", busapi.BusName, err)
		}
		defer func() { _ = conn.RemoveMatchSignal(r...) }()
	}
	// A large buffer keeps the signals in order: godbus delivers to a full
	// channel from new goroutines.
	ch := make(chan *dbus.Signal, 4096)
	conn.Signal(ch)
	defer conn.RemoveSignal(ch)

	m := &monitor{conn: conn, w: w}
	err := m.reload(ctx, false)
	for err == nil {
		select {
		case <-ctx.Done():
			return nil
		case s, ok := <-ch:
			if !ok {
				return errors.New("the bus connection closed")
			}
			err = m.handle(ctx, s)
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

type monitor struct {
	conn  *dbus.Conn
	w     io.Writer
	owner string  // unique name of the daemon, "" while it is away
	objs  objects // the objects as last printed
	err   error   // first write error
}

func (m *monitor) printf(format string, args ...any) {
	if m.err == nil {
		_, m.err = fmt.Fprintf(m.w, time.Now().Format("15:04:05.000")+" "+format+"\n", args...)
	}
}

// reload reads the daemon's name owner and objects. With announce it
// prints what differs from the objects it had.
func (m *monitor) reload(ctx context.Context, announce bool) error {
	var owner string
	err := m.conn.BusObject().CallWithContext(ctx, busDriver+".GetNameOwner", 0, busapi.BusName).Store(&owner)
	var objs objects
	if err == nil {
		objs, err = managedObjects(ctx, m.conn)
	}
	if noOwner(err) || errors.Is(err, ErrNoDaemon) {
		m.owner = ""
		m.printf("%s has no owner: waiting for glusterbus serve", busapi.BusName)
		return m.err
	}
	if err != nil {
		return err
	}
	m.owner = owner
	if !announce {
		m.objs = objs
		m.printf("Monitoring %s (owner %s, %d objects)", busapi.BusName, owner, len(objs))
		return m.err
	}
	m.printf("%s has a new owner %s (glusterbus started), re-read %d objects", busapi.BusName, owner, len(objs))
	for _, path := range slices.Sorted(maps.Keys(objs)) {
		for _, iface := range slices.Sorted(maps.Keys(objs[path])) {
			m.update(path, iface, objs[path][iface], true)
		}
	}
	for _, path := range slices.Sorted(maps.Keys(m.objs)) {
		for _, iface := range slices.Sorted(maps.Keys(m.objs[path])) {
			if objs[path][iface] == nil {
				m.remove(path, iface)
			}
		}
	}
	return m.err
}

func (m *monitor) handle(ctx context.Context, s *dbus.Signal) error {
	if s.Name == nameOwnerChanged {
		var name, prev, next string
		if s.Sender != busDriver || dbus.Store(s.Body, &name, &prev, &next) != nil ||
			name != busapi.BusName || next == m.owner {
			return nil
		}
		if next == "" {
			m.owner = ""
			m.printf("%s lost its owner %s (glusterbus stopped)", busapi.BusName, prev)
			return m.err
		}
		return m.reload(ctx, true)
	}
	if m.owner == "" || s.Sender != m.owner {
		return nil
	}
	switch s.Name {
	case interfacesAdded:
		var path dbus.ObjectPath
		var ifaces map[string]map[string]dbus.Variant
		if dbus.Store(s.Body, &path, &ifaces) == nil {
			for _, iface := range slices.Sorted(maps.Keys(ifaces)) {
				m.update(path, iface, ifaces[iface], true)
			}
		}
	case interfacesRemoved:
		var path dbus.ObjectPath
		var ifaces []string
		if dbus.Store(s.Body, &path, &ifaces) == nil {
			for _, iface := range ifaces {
				m.remove(path, iface)
			}
		}
	case propertiesChanged:
		var iface string
		var changed map[string]dbus.Variant
		var invalidated []string
		if dbus.Store(s.Body, &iface, &changed, &invalidated) == nil {
			// A property announced by name only (Manager.Volumes) is
			// read now, to show what it changed to.
			if changed == nil {
				changed = map[string]dbus.Variant{}
			}
			for _, name := range invalidated {
				var v dbus.Variant
				err := m.conn.Object(m.owner, s.Path).CallWithContext(ctx, propertiesInterface+".Get", 0, iface, name).Store(&v)
				if err != nil {
					delete(m.objs[s.Path][iface], name)
					m.printf("%s: %s: changed, not read: %v", short(s.Path), name, err)
					continue
				}
				changed[name] = v
			}
			m.update(s.Path, iface, changed, false)
		}
	default:
		if i := strings.LastIndex(s.Name, "."); i >= 0 && s.Name[:i] == busapi.ManagerInterface {
			args := make([]string, len(s.Body))
			for j, a := range s.Body {
				args[j] = format(a)
			}
			m.printf("%s: %s %s", short(s.Path), s.Name[i+1:], strings.Join(args, " "))
		}
	}
	return m.err
}

// update records new property values of an object's interface and prints
// what they change: an "Added" line for an interface it did not know of
// when added is set, else one line per changed property.
func (m *monitor) update(path dbus.ObjectPath, iface string, props map[string]dbus.Variant, added bool) {
	if m.objs == nil {
		m.objs = objects{}
	}
	if m.objs[path] == nil {
		m.objs[path] = map[string]map[string]dbus.Variant{}
	}
	old, known := m.objs[path][iface]
	if !known && added {
		m.objs[path][iface] = maps.Clone(props)
		names := mainProps[iface]
		if names == nil {
			names = slices.Sorted(maps.Keys(props))
		}
		var b strings.Builder
		for _, name := range names {
			if v, ok := props[name]; ok {
				fmt.Fprintf(&b, " %s=%s", name, format(v))
			}
		}
		m.printf("Added %s (%s)%s", short(path), iface, b.String())
		return
	}
	if !known {
		old = map[string]dbus.Variant{}
		m.objs[path][iface] = old
	}
	for _, name := range slices.Sorted(maps.Keys(props)) {
		prev, had := old[name]
		v := props[name]
		if had && reflect.DeepEqual(prev.Value(), v.Value()) {
			continue
		}
		old[name] = v
		from := "?"
		if had {
			from = format(prev)
		}
		m.printf("%s: %s: %s -> %s", short(path), name, from, format(v))
	}
}

// remove forgets an object's interface and prints a "Removed" line if it
// knew of it.
func (m *monitor) remove(path dbus.ObjectPath, iface string) {
	if _, ok := m.objs[path][iface]; !ok {
		return
	}
	delete(m.objs[path], iface)
	if len(m.objs[path]) == 0 {
		delete(m.objs, path)
	}
	m.printf("Removed %s (%s)", short(path), iface)
}

// short writes object paths below the glusterfs node relative to it.
func short(p dbus.ObjectPath) string {
	if rel, ok := strings.CutPrefix(string(p), string(busapi.GlusterPath)+"/"); ok {
		return rel
	}
	return string(p)
}

// format writes a value compactly: strings bare unless empty or holding
// separators, arrays as [a b], maps as {k=v} sorted by key, object paths
// shortened.
func format(v any) string {
	switch v := v.(type) {
	case dbus.Variant:
		return format(v.Value())
	case dbus.ObjectPath:
		return short(v)
	case string:
		if v == "" || strings.ContainsAny(v, " \t\n\"=[]{}") {
			return strconv.Quote(v)
		}
		return v
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		parts := make([]string, rv.Len())
		for i := range parts {
			parts[i] = format(rv.Index(i).Interface())
		}
		return "[" + strings.Join(parts, " ") + "]"
	case reflect.Map:
		parts := make([]string, 0, rv.Len())
		for it := rv.MapRange(); it.Next(); {
			parts = append(parts, format(it.Key().Interface())+"="+format(it.Value().Interface()))
		}
		slices.Sort(parts)
		return "{" + strings.Join(parts, " ") + "}"
	}
	return fmt.Sprint(v)
}
