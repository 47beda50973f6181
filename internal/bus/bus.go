// Package bus connects to a D-Bus message bus named the way the command
// line names it.
package bus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/godbus/dbus/v5"
)

// Connect returns a private connection to "system", "session" or any D-Bus
// address (e.g. unix:path=/run/x.sock).
func Connect(bus string, opts ...dbus.ConnOption) (*dbus.Conn, error) {
	var (
		conn *dbus.Conn
		err  error
	)
	switch bus {
	case "system":
		conn, err = dbus.ConnectSystemBus(opts...)
	case "session":
		conn, err = dbus.ConnectSessionBus(opts...)
	default:
		conn, err = dbus.Connect(bus, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("connecting to the %s bus: %w", bus, err)
	}
	return conn, nil
}

// Conn is a connection for a daemon that writes to the bus: it can be
// written with a deadline and cut while a write is blocked. godbus's Close
// waits for the write in progress, and a bus that stopped reading (a hung
// or stopped dbus-daemon) never finishes one.
type Conn struct {
	*dbus.Conn
	sock    *net.UnixConn // nil for transports other than a unix socket
	serials *serials      // the serials godbus numbers its messages with
}

// serials numbers every message the connection sends, godbus's and those
// written whole by WriteMessage, so that no two carry the same serial while
// a reply to one may still come.
type serials struct{ last atomic.Uint32 }

func (s *serials) GetSerial() uint32 {
	for {
		if n := s.last.Add(1); n != 0 { // 0 is not a serial
			return n
		}
	}
}

func (s *serials) RetireSerial(uint32) {}

// Dial connects to "system", "session" or a D-Bus address like Connect, and
// gives up on the handshake (authentication and Hello) after timeout or when
// ctx ends. Over a unix socket, the usual transport, the connection supports
// write deadlines and Cut; over others it falls back to Connect.
func Dial(ctx context.Context, address string, timeout time.Duration, opts ...dbus.ConnOption) (*Conn, error) {
	resolved, err := resolve(address)
	if err != nil {
		return nil, fmt.Errorf("connecting to the %s bus: %w", address, err)
	}
	if resolved == "" { // a session bus godbus must discover
		c, err := Connect(address, opts...)
		if err != nil {
			return nil, err
		}
		return &Conn{Conn: c}, nil
	}
	var errs []error
	for _, one := range strings.Split(resolved, ";") {
		if one == "" {
			continue
		}
		c, err := dialOne(ctx, one, timeout, opts)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("connecting to the %s bus: %w", address, errors.Join(errs...))
}

// resolve turns "system" and "session" into an address; "" means a session
// bus with no address in the environment.
func resolve(address string) (string, error) {
	switch address {
	case "system":
		if a := os.Getenv("DBUS_SYSTEM_BUS_ADDRESS"); a != "" {
			return a, nil
		}
		for _, p := range []string{"/var/run/dbus/system_bus_socket", "/run/dbus/system_bus_socket"} {
			if _, err := os.Stat(p); err == nil {
				return "unix:path=" + p, nil
			}
		}
		return "", errors.New("system bus socket not found")
	case "session":
		if a := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); a != "" && a != "autolaunch:" {
			return a, nil
		}
		return "", nil
	}
	return address, nil
}

// dialOne connects to one address of a list.
func dialOne(ctx context.Context, address string, timeout time.Duration, opts []dbus.ConnOption) (*Conn, error) {
	path, ok := unixPath(address)
	if !ok {
		c, err := dbus.Connect(address, opts...)
		if err != nil {
			return nil, err
		}
		return &Conn{Conn: c}, nil
	}
	gen := &serials{}
	opts = append(opts[:len(opts):len(opts)], dbus.WithSerialGenerator(gen))
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	nc, err := (&net.Dialer{}).DialContext(dctx, "unix", path)
	if err != nil {
		return nil, err
	}
	sock := nc.(*net.UnixConn)
	// The handshake reads and writes the socket; a deadline on it, and
	// closing it when ctx ends, is what bounds the handshake.
	_ = sock.SetDeadline(time.Now().Add(timeout))
	stop := context.AfterFunc(dctx, func() { sock.Close() })
	c, err := dbus.ConnectUnix(sock, opts...)
	if !stop() || err != nil {
		if err == nil {
			c.Close()
			err = dctx.Err()
		}
		sock.Close()
		return nil, err
	}
	_ = sock.SetDeadline(time.Time{})
	return &Conn{Conn: c, sock: sock, serials: gen}, nil
}

// unixPath returns the socket path of a unix: address ("@name" for an
// abstract one).
func unixPath(address string) (string, bool) {
	rest, ok := strings.CutPrefix(address, "unix:")
	if !ok {
		return "", false
	}
	for _, kv := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(kv, "=")
		v, err := dbus.UnescapeBusAddressValue(v)
		if err != nil || v == "" {
			continue
		}
		switch k {
		case "path":
			return v, true
		case "abstract":
			return "@" + v, true
		}
	}
	return "", false
}

// CanWriteMessages reports whether WriteMessage works on c.
func (c *Conn) CanWriteMessages() bool { return c.sock != nil && c.serials != nil }

// NextSerial returns a serial for a message written by WriteMessage; godbus
// never gives the same one to a message of its own.
func (c *Conn) NextSerial() uint32 { return c.serials.GetSerial() }

// WriteMessage writes one already encoded message, in pieces (writev), to
// the bus. The pieces go out in a single write call, as godbus writes each
// message in a single one, and Go's net package holds a connection's write
// lock for the whole of each call: the messages of the two never interleave.
func (c *Conn) WriteMessage(pieces net.Buffers) error {
	if !c.CanWriteMessages() {
		return errors.New("writing encoded messages needs a unix socket connection")
	}
	_, err := pieces.WriteTo(c.sock)
	return err
}

// Cuttable reports whether Cut and SetWriteDeadline work on c.
func (c *Conn) Cuttable() bool { return c.sock != nil }

// SetWriteDeadline bounds the writes to the connection, from any goroutine,
// until it is set again; the zero time removes the bound. A write past the
// deadline fails and leaves the connection unusable: Cut it then.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if c.sock == nil {
		return nil
	}
	return c.sock.SetWriteDeadline(t)
}

// Cut closes the connection without waiting for a write in progress: the
// socket goes first, which fails the write, and then the connection.
func (c *Conn) Cut() {
	if c.sock == nil {
		go c.Conn.Close() // may wait for a write that never ends
		return
	}
	_ = c.sock.Close()
	_ = c.Conn.Close()
}
