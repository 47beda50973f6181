package exporter

import (
	"encoding/binary"
	"net"
	"runtime"
	"slices"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/bus"
	"github.com/glusterbus/glusterbus/internal/fanout"
	"github.com/glusterbus/glusterbus/internal/state"
)

// GetManagedObjects is answered from a cache of each object's entry of the
// reply, kept in its wire form ({o a{sa{sv}}}, starting 8-aligned) and
// encoded again, at the next call, only when Apply changed the object (or
// after a few seconds without calls, when the cache is let go). The
// reply is those entries behind a header of its own, written as bytes
// through the signal queue: after the signals of every change it shows,
// before those of any change it does not. At 20 000 objects godbus took
// seconds and hundreds of megabytes to build, encode (twice) and send the
// same reply.

const managedObjectsSignature = "a{oa{sa{sv}}}"

// maxMessageLen is the largest message D-Bus allows (128 MiB).
const maxMessageLen = 1 << 27

// appendManagedEntry writes the reply's dict entry of the object at path:
// the path, then its one interface with the properties that are set, vals
// in its layout's order.
func appendManagedEntry(b []byte, path dbus.ObjectPath, o *object, vals []any) ([]byte, error) {
	b = wirePad(b, 8)
	b, err := appendWirePath(b, path)
	if err != nil {
		return b, err
	}
	b, ifacesAt, ifacesStart := beginWireArray(b, 8)
	if b, err = appendWireString(b, o.iface); err != nil {
		return b, err
	}
	b, propsAt, propsStart := beginWireArray(b, 8)
	for i, v := range vals {
		if v == nil {
			continue
		}
		b = wirePad(b, 8)
		if b, err = appendWireString(b, o.layout.names[i]); err != nil {
			return b, err
		}
		if b, err = appendWireVariant(b, o.layout.variant(vals, i)); err != nil {
			return b, err
		}
	}
	if b, err = endWireArray(b, propsAt, propsStart); err != nil {
		return b, err
	}
	return endWireArray(b, ifacesAt, ifacesStart)
}

// encode brings the object's entry up to date, with buffers of the
// caller's it returns to use again; e.mu is held for reading and e.wireMu.
// The previous entry is replaced, never overwritten: a reply being written
// may still hold it. o.unencodable says whether it failed; the caller
// counts it.
func (e *Exporter) encode(o *object, scratch []byte, vals []any, props []state.Property) ([]byte, []any, []state.Property) {
	v, props := e.valuesInto(o, vals, props)
	if o.src != nil {
		vals = v // else v is the object's own slice, not a buffer to fill again
	}
	scratch, err := appendManagedEntry(scratch[:0], o.path, o, v)
	o.unencodable = err != nil
	if err != nil {
		// godbus refuses the same value: GetManagedObjects answers as
		// it would, with an error, until the value changes.
		o.wire, o.wireLen = nil, 0
		e.log.Warn("an object has a value D-Bus cannot carry", "path", o.path, "err", err)
		return scratch, vals, props
	}
	o.wireLen = len(scratch)
	o.wire = wirePad(append(make([]byte, 0, len(scratch)+7), scratch...), 8)
	return scratch, vals, props
}

// addManaged adds a new object to the reply; e.mu is held for writing.
func (e *Exporter) addManaged(path dbus.ObjectPath, o *object) {
	o.path, o.slot = path, len(e.managed)
	e.managed = append(e.managed, o)
	e.markStale(o)
}

// markStale has the object's entry encoded again at the next call, so that
// changes between two calls cost one encoding, and none without calls;
// e.mu is held for writing.
func (e *Exporter) markStale(o *object) {
	if o.stale {
		return
	}
	if len(e.stale) >= 2*len(e.managed)+64 {
		// Without calls, objects removed since would pile up here.
		e.stale = slices.DeleteFunc(e.stale, func(o *object) bool {
			if o.slot < 0 {
				o.stale = false
			}
			return o.slot < 0
		})
	}
	o.stale = true
	e.stale = append(e.stale, o)
}

// entriesPerRange is how many stale entries one goroutine encodes at a
// time: enough to share the first call's every entry among the cores.
const entriesPerRange = 256

// manyStale says whether the next call is to encode the entries of a large
// tree, as after the entries were let go.
func (e *Exporter) manyStale() bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	e.wireMu.Lock()
	defer e.wireMu.Unlock()
	return len(e.stale) >= largeReply
}

// encodeStale encodes the entries changed since the last call, on every
// core; e.mu is held for reading and e.wireMu.
func (e *Exporter) encodeStale() {
	e.stale = slices.DeleteFunc(e.stale, func(o *object) bool {
		o.stale = false
		if o.unencodable && o.slot >= 0 {
			o.unencodable = false
			e.unencodable--
		}
		return o.slot < 0 // removed since
	})
	fanout.Ranges(len(e.stale), entriesPerRange, func(lo, hi int) {
		var scratch []byte
		var vals []any
		var props []state.Property
		for _, o := range e.stale[lo:hi] {
			scratch, vals, props = e.encode(o, scratch, vals, props)
		}
	})
	for _, o := range e.stale {
		if o.unencodable {
			e.unencodable++
		}
	}
	clear(e.stale[:cap(e.stale)])
	e.stale = e.stale[:0]
}

// removeManaged takes an object out of the reply; e.mu is held for writing.
// The order of the entries carries no meaning.
func (e *Exporter) removeManaged(o *object) {
	last := e.managed[len(e.managed)-1]
	e.managed[o.slot], last.slot = last, o.slot
	e.managed[len(e.managed)-1] = nil
	e.managed = e.managed[:len(e.managed)-1]
	o.slot = -1
	if o.unencodable {
		o.unencodable = false
		e.unencodable--
	}
}

// defaultEncodedIdle is how long the encoded entries are kept after the
// last GetManagedObjects: calls that come together (the clients that start
// when the daemon takes its name, a dashboard's tabs, a monitor that
// reconnects) share one encoding, while a daemon asked now and then does not
// hold a second copy of its tree (tens of megabytes at 20 000 objects) for
// long. The first call after a pause encodes every entry again, on every
// core (about 40 ms of CPU at 20 000 objects).
const defaultEncodedIdle = 2 * time.Second

// releaseIdleEntries lets the encoded entries go when no call came for
// encodedIdle; the next call encodes every entry again.
func (e *Exporter) releaseIdleEntries() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.wireMu.Lock()
	defer e.wireMu.Unlock()
	if left := e.encodedIdle - time.Since(e.lastCall); left > 0 {
		e.release.Reset(left)
		return
	}
	e.release = nil
	for _, o := range e.managed {
		o.wire, o.wireLen = nil, 0
		e.markStale(o)
	}
	if len(e.managed) >= largeReply && e.onBurst != nil {
		e.onBurst() // give the memory back to the system
	}
}

// noteCall records a call, for releaseIdleEntries; e.wireMu is held.
func (e *Exporter) noteCall() {
	e.lastCall = time.Now()
	if e.release == nil {
		idle := e.encodedIdle
		if idle <= 0 {
			idle = defaultEncodedIdle
			e.encodedIdle = idle
		}
		e.release = time.AfterFunc(idle, e.releaseIdleEntries)
	}
}

// managedBody returns the pieces of the reply's body, with pieces[0] left
// for the header, and the body's length; e.mu is held. It fails when an
// object has a value D-Bus cannot carry.
func (e *Exporter) managedBody() (net.Buffers, int, error) {
	e.wireMu.Lock()
	defer e.wireMu.Unlock()
	e.noteCall()
	e.encodeStale()
	if e.unencodable > 0 {
		return nil, 0, wireError("an object has a value D-Bus cannot carry")
	}
	pieces := make(net.Buffers, 2, 2+len(e.managed))
	padded := 0
	for _, o := range e.managed {
		pieces = append(pieces, o.wire)
		padded += len(o.wire)
	}
	arrayLen := padded
	if n := len(e.managed); n > 0 {
		// The array ends with its last entry, not with padding.
		last := e.managed[n-1]
		pieces[len(pieces)-1] = last.wire[:last.wireLen]
		arrayLen -= len(last.wire) - last.wireLen
	}
	if arrayLen > maxArrayLen || arrayLen+8+256 > maxMessageLen {
		return nil, 0, wireError("the reply is larger than D-Bus allows")
	}
	// The array's length, then padding to its first (8-aligned) entry.
	pieces[1] = binary.LittleEndian.AppendUint32(make([]byte, 0, 8), uint32(arrayLen))
	pieces[1] = append(pieces[1], 0, 0, 0, 0)
	return pieces, 8 + arrayLen, nil
}

// appendReplyHeader writes the header of a method return, up to its body.
func appendReplyHeader(b []byte, serial, replySerial uint32, dest, sig string, bodyLen int) ([]byte, error) {
	b = append(b, 'l', byte(dbus.TypeMethodReply), 0, 1)
	b = appendWireUint32(b, uint32(bodyLen))
	b = appendWireUint32(b, serial)
	b, at, start := beginWireArray(b, 8)
	b = wirePad(b, 8)
	b = append(b, byte(dbus.FieldReplySerial))
	b = appendWireSignature(b, "u")
	b = appendWireUint32(b, replySerial)
	if dest != "" {
		var err error
		b = wirePad(b, 8)
		b = append(b, byte(dbus.FieldDestination))
		b = appendWireSignature(b, "s")
		if b, err = appendWireString(b, dest); err != nil {
			return b, err
		}
	}
	b = wirePad(b, 8)
	b = append(b, byte(dbus.FieldSignature))
	b = appendWireSignature(b, "g")
	b = appendWireSignature(b, sig)
	b, err := endWireArray(b, at, start)
	return wirePad(b, 8), err
}

// encodedReply is a method return whose body is encoded already; it waits
// in the signal queue for the connection it answers on.
type encodedReply struct {
	conn        *bus.Conn
	dest        string
	replySerial uint32
	pieces      net.Buffers // pieces[0] is for the header
	bodyLen     int
}

// write sends the reply on conn, which takes its serial.
func (r *encodedReply) write(conn *bus.Conn) error {
	header, err := appendReplyHeader(make([]byte, 0, 64+len(r.dest)), conn.NextSerial(), r.replySerial, r.dest, managedObjectsSignature, r.bodyLen)
	if err != nil {
		return err
	}
	r.pieces[0] = header
	return conn.WriteMessage(r.pieces)
}

// timeout is how long the reply may take to be written: the write timeout
// of a signal, and a second more for each MiB.
func (r *encodedReply) timeout(writeTimeout time.Duration) time.Duration {
	return writeTimeout + time.Duration(r.bodyLen>>20)*time.Second
}

// managedObjectsMethod is GetManagedObjects. It takes the reply over from
// godbus (the call is marked as wanting none), to send it encoded through
// the signal queue, or, on a connection that cannot take encoded messages,
// as godbus would.
type managedObjectsMethod struct{ e *Exporter }

type managedObjectsCall struct {
	conn        *dbus.Conn
	dest        string
	replySerial uint32
	noReply     bool // the caller asked for none
}

func (m *managedObjectsMethod) DecodeArguments(conn *dbus.Conn, sender string, msg *dbus.Message, body []any) ([]any, error) {
	if len(body) != 0 {
		return nil, dbus.ErrMsgInvalidArg
	}
	c := &managedObjectsCall{conn: conn, dest: sender, replySerial: msg.Serial(),
		noReply: msg.Flags&dbus.FlagNoReplyExpected != 0}
	// godbus's handler reads the flag after Call, to decide whether it
	// sends the reply itself.
	msg.Flags |= dbus.FlagNoReplyExpected
	return []any{c}, nil
}

func (m *managedObjectsMethod) Call(args ...any) ([]any, error) {
	c, ok := args[0].(*managedObjectsCall)
	if !ok {
		return nil, dbus.ErrMsgInvalidArg
	}
	if c.noReply {
		return nil, nil
	}
	e := m.e
	if e.manyStale() {
		// Encoding every entry of a large tree allocates tens of MB
		// that stay: collected first, the garbage a full read left is
		// not what they come on top of. A collection, not a stall: the
		// tree is not locked meanwhile.
		runtime.GC()
	}
	e.mu.RLock()
	if conn := e.signals.encodedConn(c.conn); conn != nil {
		pieces, bodyLen, err := e.managedBody()
		if err == nil {
			// Queued under the tree's lock, as Apply queues its signals.
			e.signals.putReply(&encodedReply{conn: conn, dest: c.dest, replySerial: c.replySerial,
				pieces: pieces, bodyLen: bodyLen})
			e.mu.RUnlock()
			return nil, nil
		}
	}
	out := e.managedObjectsMap()
	e.mu.RUnlock()
	if len(out) >= largeReply && e.onBurst != nil {
		e.onBurst()
	}
	reply := &dbus.Message{Type: dbus.TypeMethodReply, Headers: map[dbus.HeaderField]dbus.Variant{
		dbus.FieldReplySerial: dbus.MakeVariant(c.replySerial),
		dbus.FieldSignature:   dbus.MakeVariant(dbus.SignatureOf(out)),
	}, Body: []any{out}}
	if c.dest != "" {
		reply.Headers[dbus.FieldDestination] = dbus.MakeVariant(c.dest)
	}
	// A reply godbus cannot encode becomes an error reply, as when godbus
	// replies itself.
	c.conn.Send(reply, nil)
	return nil, nil
}

// managedObjectsMap is the reply as godbus encodes it; e.mu is held.
func (e *Exporter) managedObjectsMap() map[dbus.ObjectPath]map[string]map[string]dbus.Variant {
	out := make(map[dbus.ObjectPath]map[string]map[string]dbus.Variant, len(e.objects))
	for path, o := range e.objects {
		out[path] = map[string]map[string]dbus.Variant{o.iface: o.layout.props(e.valuesOf(o))}
	}
	return out
}

func (m *managedObjectsMethod) NumArguments() int       { return 0 }
func (m *managedObjectsMethod) NumReturns() int         { return 0 }
func (m *managedObjectsMethod) ArgumentValue(i int) any { return nil }
func (m *managedObjectsMethod) ReturnValue(i int) any   { return nil }
