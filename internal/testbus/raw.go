package testbus

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
)

// RawClient is a bus connection that reads replies as bytes without
// decoding them, to time a call apart from the cost of decoding its reply
// (godbus's decoder takes seconds for tens of megabytes; clients in C do
// not). It makes method calls without arguments only.
type RawClient struct {
	conn   net.Conn
	r      *bufio.Reader
	serial uint32
}

// DialRaw connects to a unix:path= bus address, authenticates as the
// process's user and says Hello.
func DialRaw(addr string) (*RawClient, error) {
	path, ok := strings.CutPrefix(addr, "unix:path=")
	if !ok {
		return nil, fmt.Errorf("raw client: %q is not a unix:path= address", addr)
	}
	path, _, _ = strings.Cut(path, ",")
	conn, err := net.Dial("unix", path)
	if err != nil {
		return nil, err
	}
	c := &RawClient{conn: conn, r: bufio.NewReaderSize(conn, 1<<16)}
	uid := hex.EncodeToString([]byte(strconv.Itoa(os.Getuid())))
	if _, err := io.WriteString(conn, "\x00AUTH EXTERNAL "+uid+"\r\n"); err != nil {
		conn.Close()
		return nil, err
	}
	line, err := c.r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "OK ") {
		conn.Close()
		return nil, fmt.Errorf("raw client: authentication: %q %v", line, err)
	}
	if _, err := io.WriteString(conn, "BEGIN\r\n"); err != nil {
		conn.Close()
		return nil, err
	}
	if _, err := c.Call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello"); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// Close closes the connection.
func (c *RawClient) Close() error { return c.conn.Close() }

// Call makes a method call without arguments and returns the length of
// the reply's body once it is read whole.
func (c *RawClient) Call(dest, path, iface, member string) (int, error) {
	c.serial++
	if _, err := c.conn.Write(rawCall(c.serial, dest, path, iface, member)); err != nil {
		return 0, err
	}
	for {
		typ, replyTo, bodyLen, err := c.readMessage()
		if err != nil {
			return 0, err
		}
		if replyTo != c.serial {
			continue
		}
		switch typ {
		case 2:
			return bodyLen, nil
		case 3:
			return 0, errors.New("raw client: the call got an error reply")
		}
	}
}

// readMessage reads one message and returns its type, the serial it
// replies to (0 if none) and its body's length.
func (c *RawClient) readMessage() (typ byte, replyTo uint32, bodyLen int, err error) {
	var fixed [16]byte
	if _, err = io.ReadFull(c.r, fixed[:]); err != nil {
		return 0, 0, 0, err
	}
	var order binary.ByteOrder = binary.LittleEndian
	if fixed[0] == 'B' {
		order = binary.BigEndian
	}
	typ = fixed[1]
	bodyLen = int(order.Uint32(fixed[4:]))
	fieldsLen := int(order.Uint32(fixed[12:]))
	fields := make([]byte, (fieldsLen+7)&^7)
	if _, err = io.ReadFull(c.r, fields); err != nil {
		return 0, 0, 0, err
	}
	// Header fields: (code, variant), each 8-aligned from the message start
	// (the array begins at offset 16).
	for pos := 0; pos < fieldsLen; {
		pos = (pos + 7) &^ 7
		code, sigLen := fields[pos], int(fields[pos+1])
		sig := fields[pos+2 : pos+2+sigLen]
		pos += 3 + sigLen
		switch string(sig) {
		case "u":
			pos = (pos + 3) &^ 3
			if code == 5 {
				replyTo = order.Uint32(fields[pos:])
			}
			pos += 4
		case "s", "o":
			pos = (pos + 3) &^ 3
			pos += 4 + int(order.Uint32(fields[pos:])) + 1
		case "g":
			pos += 1 + int(fields[pos]) + 1
		default:
			return 0, 0, 0, fmt.Errorf("raw client: header field of type %q", sig)
		}
	}
	_, err = c.r.Discard(bodyLen)
	return typ, replyTo, bodyLen, err
}

// rawCall encodes a method call without arguments (little-endian).
func rawCall(serial uint32, dest, path, iface, member string) []byte {
	b := []byte{'l', 1, 0, 1, 0, 0, 0, 0}
	b = binary.LittleEndian.AppendUint32(b, serial)
	b = append(b, 0, 0, 0, 0) // fields' length, set below
	field := func(code byte, sig byte, s string) {
		for len(b)%8 != 0 {
			b = append(b, 0)
		}
		b = append(b, code, 1, sig, 0)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
		b = append(b, 0)
	}
	field(1, 'o', path)
	field(2, 's', iface)
	field(3, 's', member)
	field(6, 's', dest)
	binary.LittleEndian.PutUint32(b[12:], uint32(len(b)-16))
	for len(b)%8 != 0 {
		b = append(b, 0)
	}
	return b
}
