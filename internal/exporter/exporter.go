// Package exporter shows the state model on D-Bus: it keeps one object per
// state object, answers Properties, Introspectable and ObjectManager calls
// from its own locked object tree (godbus's default registry is not safe
// when objects come and go while clients introspect), and turns the model's
// changes into InterfacesAdded, InterfacesRemoved and PropertiesChanged.
package exporter

import (
	"context"
	"encoding/xml"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"
	"github.com/godbus/dbus/v5/prop"

	"github.com/glusterbus/glusterbus/api"
	"github.com/glusterbus/glusterbus/internal/state"
)

// Exporter is a dbus.Handler over the daemon's objects and a state.Sink.
type Exporter struct {
	log     *slog.Logger
	ctx     context.Context
	ifaces  map[string]introspect.Interface
	layouts map[string]*layout
	// quiet holds how a property whose EmitsChangedSignal annotation is
	// not "true" is announced: not at all ("false", "const"), or by name
	// only ("invalidates").
	quiet   map[propertyName]string
	methods map[string]map[string]*Method
	signals signalQueue
	mu      sync.RWMutex
	objects map[dbus.ObjectPath]*object
	// paths holds the path of each exported object, made once: property
	// values refer to objects by path (a volume's bricks, a brick's
	// volume), and share these strings.
	paths    map[state.Ref]dbus.ObjectPath
	children map[dbus.ObjectPath]map[string]bool // intermediate path -> child elements
	onBurst  func()                              // see OnLargeReply

	// The GetManagedObjects reply, kept encoded (see managed.go). Apply,
	// under mu held for writing, changes managed and stale; a call, under
	// mu held for reading, encodes the stale entries under wireMu.
	managed     []*object
	stale       []*object // objects whose entry is to be encoded again
	wireMu      sync.Mutex
	unencodable int // objects whose values D-Bus cannot carry
	// The entries are let go when no call came for encodedIdle (see
	// releaseIdleEntries); lastCall and release are under wireMu.
	encodedIdle time.Duration
	lastCall    time.Time
	release     *time.Timer
}

// largeReply is how many objects make a GetManagedObjects reply large
// enough to announce: encoding it allocates many times its size.
const largeReply = 1000

// OnLargeReply sets f to be told when a GetManagedObjects reply of many
// objects is about to be encoded and sent, so that the memory it needs for a
// moment can be given back afterwards. Set it before serving.
func (e *Exporter) OnLargeReply(f func()) { e.onBurst = f }

// object is one exported object. A volume or a brick is kept by its
// state.Source, a word or two, and its values are asked of it when a client
// wants them: with tens of thousands of objects, copies of their values
// would be the daemon's largest part. Other objects keep their values in a
// slice in the order of their interface's properties in api/, without their
// signatures, which the layout holds; nil is a property never set.
type object struct {
	iface  string
	layout *layout
	src    state.Source
	values []any // when src is nil

	path        dbus.ObjectPath
	wire        []byte // entry of the GetManagedObjects reply, padded to 8
	wireLen     int    // its length without the padding
	slot        int    // its place in Exporter.managed; -1 once removed
	stale       bool   // in Exporter.stale
	unencodable bool
}

// layout is the property order of one interface, with each property's
// signature from api/ (so values need no reflection to be wrapped).
type layout struct {
	names []string
	sigs  []dbus.Signature
	index map[string]int
}

// place returns the place of the named property, looked for at i first:
// the model lists an object's properties in api/'s order, so a whole
// object is laid out without looking its names up. Names outside api/ are
// a bug of the caller.
func (l *layout) place(i int, name string, iface string) int {
	if i >= 0 && i < len(l.names) && l.names[i] == name {
		return i
	}
	i, ok := l.index[name]
	if !ok {
		panic("exporter: property " + name + " is not in api/ for " + iface)
	}
	return i
}

// variant is vals[i], of values in the layout's order, as D-Bus wants it.
func (l *layout) variant(vals []any, i int) dbus.Variant {
	return dbus.MakeVariantWithSignature(vals[i], l.sigs[i])
}

// props returns values in the layout's order as D-Bus wants them.
func (l *layout) props(vals []any) map[string]dbus.Variant {
	m := make(map[string]dbus.Variant, len(vals))
	for i, v := range vals {
		if v != nil {
			m[l.names[i]] = l.variant(vals, i)
		}
	}
	return m
}

// valuesOf returns the object's values in its layout's order, as D-Bus
// carries them; e.mu is held. Those of an object kept by its Source are
// made now, and are the caller's.
func (e *Exporter) valuesOf(o *object) []any {
	vals, _ := e.valuesInto(o, nil, nil)
	return vals
}

// valuesInto is valuesOf with buffers of the caller's for the values and
// the properties they are made from, for a reply of many objects: it
// returns the values, in vals when it is large enough, and props to use
// again. The values of an object kept by value are its own.
func (e *Exporter) valuesInto(o *object, vals []any, props []state.Property) ([]any, []state.Property) {
	if o.src == nil {
		return o.values, props
	}
	props = o.src.AppendProps(props[:0])
	return e.laidOutInto(o, props, vals), props
}

// laidOutInto returns props, all of an object's, as D-Bus carries them in
// its layout's order, in vals when it is large enough; e.mu is held.
func (e *Exporter) laidOutInto(o *object, props []state.Property, vals []any) []any {
	if n := len(o.layout.names); cap(vals) >= n {
		vals = vals[:n]
		clear(vals)
	} else {
		vals = make([]any, n)
	}
	for i, p := range props {
		vals[o.layout.place(i, p.Name, o.iface)] = e.toDBus(p.Value)
	}
	return vals
}

// set stores a value as D-Bus carries it (see Exporter.toDBus) as the
// named property of an object kept by value, and returns it as a variant.
func (o *object) set(name string, value any) dbus.Variant {
	i := o.layout.place(-1, name, o.iface)
	if o.src == nil {
		o.values[i] = value
	}
	return dbus.MakeVariantWithSignature(value, o.layout.sigs[i])
}

// path returns the object path of ref: the exported object's own, or made
// now for an object not exported (yet); e.mu is held.
func (e *Exporter) path(ref state.Ref) dbus.ObjectPath {
	if p, ok := e.paths[ref]; ok {
		return p
	}
	return Path(ref)
}

// toDBus converts a state property value to the Go value godbus sends;
// e.mu is held.
func (e *Exporter) toDBus(v any) any {
	switch v := v.(type) {
	case state.Ref:
		return e.path(v)
	case []state.Ref:
		paths := make([]dbus.ObjectPath, len(v))
		for i, r := range v {
			paths[i] = e.path(r)
		}
		return paths
	case state.VolumeList:
		paths := make([]dbus.ObjectPath, 0, v.Len())
		for r := range v.All() {
			paths = append(paths, e.path(r))
		}
		return paths
	}
	return v
}

// propertyName is a property of an interface.
type propertyName struct{ iface, name string }

// New returns an exporter with no objects. ctx bounds method calls.
func New(ctx context.Context, log *slog.Logger) *Exporter {
	ifaces := api.MustInterfaces()
	quiet := map[propertyName]string{}
	layouts := map[string]*layout{}
	for name, iface := range ifaces {
		l := &layout{index: map[string]int{}}
		layouts[name] = l
		for _, p := range iface.Properties {
			l.index[p.Name] = len(l.names)
			l.names = append(l.names, p.Name)
			l.sigs = append(l.sigs, dbus.ParseSignatureMust(p.Type))
			for _, a := range p.Annotations {
				if a.Name == "org.freedesktop.DBus.Property.EmitsChangedSignal" && a.Value != "true" {
					quiet[propertyName{name, p.Name}] = a.Value
				}
			}
		}
	}
	return &Exporter{
		signals:  newSignalQueue(log),
		log:      log,
		ctx:      ctx,
		ifaces:   ifaces,
		layouts:  layouts,
		quiet:    quiet,
		methods:  map[string]map[string]*Method{},
		objects:  map[dbus.ObjectPath]*object{},
		paths:    map[state.Ref]dbus.ObjectPath{},
		children: map[dbus.ObjectPath]map[string]bool{},
	}
}

// Handle registers the implementation of a method of a domain interface.
// The method must be declared in api/. It may be called while serving.
func (e *Exporter) Handle(iface, name string, m *Method) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.methods[iface] == nil {
		e.methods[iface] = map[string]*Method{}
	}
	e.methods[iface][name] = m
}

// Unhandled lists the methods api/ declares that have no implementation,
// as "interface.Method", and those whose implementation takes other
// arguments than api/ declares, as "interface.Method(in signature)".
func (e *Exporter) Unhandled() []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	var out []string
	for name, iface := range e.ifaces {
		for _, m := range iface.Methods {
			impl := e.methods[name][m.Name]
			switch {
			case impl == nil:
				out = append(out, name+"."+m.Name)
			case inSignature(impl.In) != declaredIn(m):
				out = append(out, name+"."+m.Name+"("+inSignature(impl.In)+")")
			}
		}
	}
	slices.Sort(out)
	return out
}

// inSignature is the D-Bus signature of a Method's arguments.
func inSignature(in []any) string {
	if len(in) == 0 {
		return ""
	}
	return dbus.SignatureOf(in...).String()
}

// declaredIn is the signature of a method's in-arguments in api/.
func declaredIn(m introspect.Method) string {
	var sig strings.Builder
	for _, a := range m.Args {
		if a.Direction == "in" {
			sig.WriteString(a.Type)
		}
	}
	return sig.String()
}

// Apply updates the objects and queues one signal per changed object; it
// never waits for the bus (see signalQueue), so the model's lock, under
// which it runs, is never held across a write to the bus.
func (e *Exporter) Apply(changes []state.Change) {
	// Without a connection the signals would be dropped: not making them
	// spares the first read of a large cluster, made before the bus name is
	// taken, a map of properties per object.
	announce := e.signals.connected()
	var sigs []pendingSignal
	if announce {
		sigs = make([]pendingSignal, 0, len(changes))
	}
	e.mu.Lock()
	e.reserve(changes)
	// The objects added first, so that the properties of those added
	// with them refer to them by their own paths.
	for _, c := range changes {
		if _, ok := e.paths[c.Ref]; !ok && c.Type == state.Added {
			e.paths[c.Ref] = Path(c.Ref)
		}
	}
	for _, c := range changes {
		path := e.path(c.Ref)
		iface := Interface(c.Ref.Kind)
		switch c.Type {
		case state.Added:
			obj := e.newObject(iface, c.Source)
			var vals []any
			if obj.src == nil || announce {
				vals = e.laidOutInto(obj, c.Props, nil)
			}
			if obj.src == nil {
				obj.values = vals
			}
			if old, ok := e.objects[path]; ok {
				e.removeManaged(old)
			}
			e.objects[path] = obj
			e.link(path)
			e.addManaged(path, obj)
			if announce {
				sigs = append(sigs, pendingSignal{RootPath, objectManagerInterface + ".InterfacesAdded",
					[]any{path, map[string]map[string]dbus.Variant{iface: obj.layout.props(vals)}}, nil})
			}
		case state.Modified:
			obj, ok := e.objects[path]
			if !ok {
				e.paths[c.Ref] = path
				obj = e.newObject(iface, c.Source)
				e.objects[path] = obj
				e.link(path)
				e.addManaged(path, obj)
			}
			switch {
			case c.Source != nil:
				obj.src, obj.values = c.Source, nil
			case obj.src != nil:
				// A change from no Source (none the model makes): the
				// object is kept by value from now on.
				obj.values, obj.src = e.valuesOf(obj), nil
			}
			changed := map[string]dbus.Variant{}
			invalidated := []string{}
			for _, p := range c.Props {
				quiet := e.quiet[propertyName{iface, p.Name}]
				if obj.src != nil && (quiet != "" || !announce) {
					// Made from the Source when read: no value to
					// keep nor to send (the manager's list of
					// volumes is made only when a client reads it).
					if announce && quiet == "invalidates" {
						invalidated = append(invalidated, p.Name)
					}
					continue
				}
				v := obj.set(p.Name, e.toDBus(p.Value))
				if !announce {
					continue
				}
				switch quiet {
				case "":
					changed[p.Name] = v
				case "invalidates":
					invalidated = append(invalidated, p.Name)
				}
			}
			e.markStale(obj)
			e.repointBricks(c)
			if len(changed) > 0 || len(invalidated) > 0 {
				sigs = append(sigs, pendingSignal{path, propertiesInterface + ".PropertiesChanged",
					[]any{iface, changed, invalidated}, nil})
			}
		case state.Removed:
			delete(e.paths, c.Ref)
			obj, ok := e.objects[path]
			if !ok {
				continue
			}
			e.removeManaged(obj)
			delete(e.objects, path)
			e.unlink(path)
			if announce {
				sigs = append(sigs, pendingSignal{RootPath, objectManagerInterface + ".InterfacesRemoved",
					[]any{path, []string{iface}}, nil})
			}
		}
	}
	// Queued before the tree is unlocked, so signals keep the order of the
	// changes to the tree.
	e.signals.put(sigs...)
	e.mu.Unlock()
}

// reserve makes the tree's maps at the size of the first read when there
// is none yet, rather than have them grow through a dozen rehashes to tens
// of thousands of objects; e.mu is held for writing.
func (e *Exporter) reserve(changes []state.Change) {
	const worth = 1024
	if len(e.objects) > 0 || len(e.paths) > 0 || len(changes) < worth {
		return
	}
	var added [state.KindGeoRep + 1]int
	n := 0
	for _, c := range changes {
		if c.Type == state.Added && int(c.Ref.Kind) < len(added) {
			added[c.Ref.Kind]++
			n++
		}
	}
	// Objects of a kind with many are children of one path.
	for kind, prefix := range map[state.Kind]dbus.ObjectPath{state.KindVolume: VolumePrefix,
		state.KindBrick: BrickPrefix, state.KindPeer: PeerPrefix, state.KindSnapshot: SnapshotPrefix,
		state.KindGeoRep: GeoRepPrefix} {
		parent := prefix[:len(prefix)-1]
		if added[kind] >= worth && len(e.children[parent]) == 0 {
			e.children[parent] = make(map[string]bool, added[kind])
		}
	}
	if n >= worth {
		e.objects = make(map[dbus.ObjectPath]*object, n)
		e.paths = make(map[state.Ref]dbus.ObjectPath, n)
		e.managed = slices.Grow(e.managed, n)
	}
}

// newObject returns an object kept by src, or by value when src is nil.
func (e *Exporter) newObject(iface string, src state.Source) *object {
	l := e.layouts[iface]
	o := &object{iface: iface, layout: l, src: src}
	if src == nil {
		o.values = make([]any, len(l.names))
	}
	return o
}

// repointBricks has the bricks of a volume just changed kept by the
// volume's new Source, those that did not change too: the old volume is
// then let go; e.mu is held for writing. A brick that changed as well has
// its own change, which comes later and sets the same. (The bricks of a
// volume added are added with it.)
func (e *Exporter) repointBricks(c state.Change) {
	vs, ok := c.Source.(state.VolumeSource)
	if !ok {
		return
	}
	var bricks []state.Ref
	for _, p := range c.Cur {
		if p.Name == "Bricks" {
			bricks, _ = p.Value.([]state.Ref)
			break
		}
	}
	for i, ref := range bricks {
		obj := e.objects[e.paths[ref]]
		if obj == nil || obj.src == nil {
			continue
		}
		if volume, ok := state.BrickVolume(obj.src); ok && volume == vs.Name() {
			obj.src = vs.Brick(i)
		}
	}
}

// link records path's ancestors as intermediate nodes, so introspection
// of every path up to / lists its children.
func (e *Exporter) link(path dbus.ObjectPath) {
	for p := string(path); p != "/"; {
		i := strings.LastIndexByte(p, '/')
		parent := dbus.ObjectPath(p[:max(i, 1)])
		kids := e.children[parent]
		if kids == nil {
			kids = map[string]bool{}
			e.children[parent] = kids
		}
		if kids[p[i+1:]] {
			return
		}
		kids[p[i+1:]] = true
		p = string(parent)
	}
}

// unlink removes path from its parent's children, and empty intermediate
// nodes with it.
func (e *Exporter) unlink(path dbus.ObjectPath) {
	for p := string(path); p != "/"; {
		if len(e.children[dbus.ObjectPath(p)]) > 0 {
			return
		}
		if _, isObject := e.objects[dbus.ObjectPath(p)]; isObject {
			return
		}
		delete(e.children, dbus.ObjectPath(p))
		i := strings.LastIndexByte(p, '/')
		parent := dbus.ObjectPath(p[:max(i, 1)])
		delete(e.children[parent], p[i+1:])
		p = string(parent)
	}
}

// LookupObject implements dbus.Handler: every exported object and every
// path above one exists.
func (e *Exporter) LookupObject(path dbus.ObjectPath) (dbus.ServerObject, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	_, isObject := e.objects[path]
	if !isObject && path != RootPath && path != "/" && len(e.children[path]) == 0 {
		return nil, false
	}
	return &node{e: e, path: path}, true
}

// node is one path as seen by one incoming call.
type node struct {
	e    *Exporter
	path dbus.ObjectPath
}

type methodTable map[string]dbus.Method

func (t methodTable) LookupMethod(name string) (dbus.Method, bool) {
	m, ok := t[name]
	return m, ok
}

func (n *node) LookupInterface(name string) (dbus.Interface, bool) {
	switch name {
	case introspectInterface:
		return methodTable{"Introspect": &funcMethod{fn: n.introspect}}, true
	case propertiesInterface:
		return methodTable{
			"Get":    &funcMethod{in: []any{"", ""}, fn: n.get},
			"GetAll": &funcMethod{in: []any{""}, fn: n.getAll},
			"Set":    &funcMethod{in: []any{"", "", dbus.Variant{}}, fn: n.set},
		}, true
	case objectManagerInterface:
		if n.path != RootPath {
			return nil, false
		}
		return methodTable{"GetManagedObjects": &managedObjectsMethod{e: n.e}}, true
	case "":
		// A call with no interface: the object's own interface, then the
		// standard ones.
		t := methodTable{}
		for _, s := range []string{objectManagerInterface, propertiesInterface, introspectInterface, n.iface()} {
			if s == "" {
				continue
			}
			if i, ok := n.LookupInterface(s); ok {
				for k, v := range i.(methodTable) {
					t[k] = v
				}
			}
		}
		return t, true
	}
	if name != n.iface() {
		return nil, false
	}
	t := methodTable{}
	n.e.mu.RLock()
	defer n.e.mu.RUnlock()
	for mname, m := range n.e.methods[name] {
		t[mname] = &boundMethod{m: m, path: n.path, ctx: n.e.ctx, e: n.e}
	}
	return t, true
}

// iface is the domain interface of the object at the node's path, or "".
func (n *node) iface() string {
	n.e.mu.RLock()
	defer n.e.mu.RUnlock()
	if o, ok := n.e.objects[n.path]; ok {
		return o.iface
	}
	return ""
}

func (n *node) introspect(dbus.Sender, []any) ([]any, *dbus.Error) {
	n.e.mu.RLock()
	doc := introspect.Node{Name: string(n.path)}
	doc.Interfaces = append(doc.Interfaces, introspect.IntrospectData, peerData)
	if o, ok := n.e.objects[n.path]; ok {
		doc.Interfaces = append(doc.Interfaces, prop.IntrospectData, n.e.ifaces[o.iface])
	}
	if n.path == RootPath {
		doc.Interfaces = append(doc.Interfaces, objectManagerData)
	}
	for _, child := range slices.Sorted(maps.Keys(n.e.children[n.path])) {
		doc.Children = append(doc.Children, introspect.Node{Name: child})
	}
	n.e.mu.RUnlock()
	out, err := xml.MarshalIndent(doc, "", " ")
	if err != nil {
		return nil, dbus.MakeFailedError(err)
	}
	return []any{introspect.IntrospectDeclarationString + string(out)}, nil
}

func (n *node) get(_ dbus.Sender, args []any) ([]any, *dbus.Error) {
	iface, name := args[0].(string), args[1].(string)
	n.e.mu.RLock()
	defer n.e.mu.RUnlock()
	o, ok := n.e.objects[n.path]
	if !ok || o.iface != iface {
		return nil, dbus.NewError("org.freedesktop.DBus.Error.UnknownInterface", []any{"no interface " + iface + " at " + string(n.path)})
	}
	vals := n.e.valuesOf(o)
	i, ok := o.layout.index[name]
	if ok && vals[i] == nil {
		ok = false // declared, but never set
	}
	if !ok {
		return nil, dbus.NewError("org.freedesktop.DBus.Error.UnknownProperty", []any{"no property " + name + " in " + iface})
	}
	return []any{o.layout.variant(vals, i)}, nil
}

func (n *node) getAll(_ dbus.Sender, args []any) ([]any, *dbus.Error) {
	iface := args[0].(string)
	n.e.mu.RLock()
	defer n.e.mu.RUnlock()
	o, ok := n.e.objects[n.path]
	if !ok || (iface != "" && o.iface != iface) {
		if ok || iface == "" {
			return []any{map[string]dbus.Variant{}}, nil
		}
		return nil, dbus.NewError("org.freedesktop.DBus.Error.UnknownInterface", []any{"no interface " + iface + " at " + string(n.path)})
	}
	return []any{o.layout.props(n.e.valuesOf(o))}, nil
}

func (n *node) set(_ dbus.Sender, args []any) ([]any, *dbus.Error) {
	return nil, dbus.NewError("org.freedesktop.DBus.Error.PropertyReadOnly", []any{"property " + args[1].(string) + " is read-only"})
}

var peerData = introspect.Interface{
	Name: peerInterface,
	Methods: []introspect.Method{
		{Name: "Ping"},
		{Name: "GetMachineId", Args: []introspect.Arg{{Name: "machine_uuid", Type: "s", Direction: "out"}}},
	},
}

var objectManagerData = introspect.Interface{
	Name: objectManagerInterface,
	Methods: []introspect.Method{{Name: "GetManagedObjects", Args: []introspect.Arg{
		{Name: "objects", Type: "a{oa{sa{sv}}}", Direction: "out"}}}},
	Signals: []introspect.Signal{
		{Name: "InterfacesAdded", Args: []introspect.Arg{{Name: "object", Type: "o"}, {Name: "interfaces", Type: "a{sa{sv}}"}}},
		{Name: "InterfacesRemoved", Args: []introspect.Arg{{Name: "object", Type: "o"}, {Name: "interfaces", Type: "as"}}},
	},
}
