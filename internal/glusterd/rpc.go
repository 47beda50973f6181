package glusterd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// ONC RPC (RFC 5531) as glusterd speaks it on its CLI socket: one call, one
// reply, each a record of one or more fragments (RFC 5531 section 11).

const (
	rpcVersion = 2
	msgCall    = 0
	msgReply   = 1

	authNone = 0
	authUnix = 1 // AUTH_SYS

	lastFragment = 0x80000000
	// maxFragment is the largest fragment this client sends; glusterd's
	// requests are tiny, so every call is one fragment.
	maxFragment = 1 << 20

	// DefaultMaxReply bounds the size of one reply record. A volume with
	// hundreds of bricks and options answers in tens of KiB.
	DefaultMaxReply = 64 << 20
)

// ErrNotUnderstood matches (with errors.Is) every error about an answer this
// package cannot read: a malformed record, reply, dict or a dict without the
// keys it needs. The caller may ask the same question another way.
var ErrNotUnderstood = errors.New("glusterd: answer not understood")

// malformed returns an error wrapping ErrNotUnderstood.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrNotUnderstood, fmt.Sprintf(format, args...))
}

// xdrWriter appends XDR (RFC 4506) items to a buffer.
type xdrWriter struct{ b []byte }

func (w *xdrWriter) uint32(v uint32) { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *xdrWriter) int32(v int32)   { w.uint32(uint32(v)) }

// opaque writes variable-length opaque data (also a string): length, bytes,
// zero padding to a multiple of four.
func (w *xdrWriter) opaque(p []byte) {
	w.uint32(uint32(len(p)))
	w.b = append(w.b, p...)
	w.b = append(w.b, zeros[:pad(len(p))]...)
}

var zeros [3]byte

func pad(n int) int { return (4 - n%4) % 4 }

// xdrReader reads XDR items from a received buffer; every length is checked
// against what is left, so nothing is allocated for bytes that did not come.
type xdrReader struct {
	b   []byte
	off int
}

func (r *xdrReader) left() int { return len(r.b) - r.off }

func (r *xdrReader) uint32(what string) (uint32, error) {
	if r.left() < 4 {
		return 0, malformed("%s: truncated at byte %d", what, r.off)
	}
	v := binary.BigEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v, nil
}

func (r *xdrReader) int32(what string) (int32, error) {
	v, err := r.uint32(what)
	return int32(v), err
}

// opaque reads variable-length opaque data of at most max bytes. The result
// shares the reader's buffer.
func (r *xdrReader) opaque(what string, max int) ([]byte, error) {
	// As r.uint32(what + " length"), without making that string for every
	// item read.
	if r.left() < 4 {
		return nil, malformed("%s length: truncated at byte %d", what, r.off)
	}
	n := binary.BigEndian.Uint32(r.b[r.off:])
	r.off += 4
	if uint64(n) > uint64(max) {
		return nil, malformed("%s: length %d over the limit %d", what, n, max)
	}
	if uint64(n)+uint64(pad(int(n))) > uint64(r.left()) {
		return nil, malformed("%s: length %d past the end (%d bytes left)", what, n, r.left())
	}
	p := r.b[r.off : r.off+int(n)]
	r.off += int(n) + pad(int(n))
	return p, nil
}

// credentials are AUTH_UNIX credentials (RFC 5531 appendix A): glusterd
// only looks at them to tell a caller from another.
func credentials(machine string, uid, gid uint32) []byte {
	var w xdrWriter
	w.uint32(0) // stamp
	w.opaque([]byte(machine))
	w.uint32(uid)
	w.uint32(gid)
	w.uint32(0) // no supplementary groups
	return w.b
}

// callRecord returns one call as a record of one fragment.
func callRecord(xid, prog, vers, proc uint32, cred, args []byte) ([]byte, error) {
	return appendCall(make([]byte, 0, 64+len(cred)+len(args)), xid, prog, vers, proc, cred, args)
}

// appendCall appends one call as a record of one fragment to b.
func appendCall(b []byte, xid, prog, vers, proc uint32, cred, args []byte) ([]byte, error) {
	start := len(b)
	b = append(appendCallHead(b, xid, prog, vers, proc, cred), args...)
	return endCall(b, start)
}

// appendCallHead appends a call's fragment header (set by endCall) and RPC
// header to b; the procedure's arguments follow.
func appendCallHead(b []byte, xid, prog, vers, proc uint32, cred []byte) []byte {
	w := xdrWriter{b: append(b, 0, 0, 0, 0)} // room for the fragment header
	w.uint32(xid)
	w.uint32(msgCall)
	w.uint32(rpcVersion)
	w.uint32(prog)
	w.uint32(vers)
	w.uint32(proc)
	w.uint32(authUnix)
	w.opaque(cred)
	w.uint32(authNone) // verifier
	w.opaque(nil)
	return w.b
}

// endCall sets the fragment header of the call appended to b from start.
func endCall(b []byte, start int) ([]byte, error) {
	n := len(b) - start - 4
	if n > maxFragment {
		return nil, fmt.Errorf("glusterd: call of %d bytes is too large", n)
	}
	binary.BigEndian.PutUint32(b[start:], lastFragment|uint32(n))
	return b, nil
}

// readRecord reads one record of at most max bytes. The buffer grows with
// the bytes that actually arrive, never more than readAhead ahead of them:
// a fragment header announcing 2 GiB allocates nothing until 2 GiB come,
// while a reply of a few KiB (nearly all are) is read into a buffer of its
// own size at once.
func readRecord(r io.Reader, max int) ([]byte, error) { return readRecordInto(r, max, nil) }

// readRecordInto is readRecord reading into buf's space (from its start),
// growing it as readRecord grows a new one: the record returned may share
// buf's array, and is only good until buf is used again.
func readRecordInto(r io.Reader, max int, buf []byte) ([]byte, error) {
	rec := buf[:0]
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if len(rec) > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		h := binary.BigEndian.Uint32(hdr[:])
		n := int64(h &^ lastFragment)
		if int64(len(rec))+n > int64(max) {
			return nil, malformed("reply record over the limit of %d bytes", max)
		}
		for left := int(n); left > 0; {
			chunk := min(left, readAhead)
			start := len(rec)
			rec = slices.Grow(rec, chunk)[:start+chunk]
			if _, err := io.ReadFull(r, rec[start:]); err != nil {
				if errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return nil, err
			}
			left -= chunk
		}
		if h&lastFragment != 0 {
			if rec == nil {
				rec = []byte{}
			}
			return rec, nil
		}
	}
}

// readAhead is the most readRecord allocates before the bytes come.
const readAhead = 64 << 10

// RPCError is a call glusterd's RPC layer refused: the program, version or
// procedure is unknown, the arguments did not decode, or the credentials
// were denied. It wraps ErrNotUnderstood: the question cannot be asked this
// way.
type RPCError struct {
	Proc   uint32
	Reason string
}

func (e *RPCError) Error() string {
	return fmt.Sprintf("glusterd: procedure %d refused: %s", e.Proc, e.Reason)
}

func (e *RPCError) Unwrap() error { return ErrNotUnderstood }

var acceptStats = []string{"success", "program unavailable", "program version mismatch",
	"procedure unavailable", "garbage arguments", "system error"}

var authStats = []string{"ok", "bad credentials", "rejected credentials", "bad verifier",
	"rejected verifier", "too weak"}

// isCall reports whether a record is a call rather than a reply.
func isCall(rec []byte) bool {
	return len(rec) >= 8 && binary.BigEndian.Uint32(rec[4:]) == msgCall
}

// parseReply checks a reply record for the call xid and returns the
// procedure's results.
func parseReply(rec []byte, xid, proc uint32) ([]byte, error) {
	r := &xdrReader{b: rec}
	gotXid, err := r.uint32("xid")
	if err != nil {
		return nil, err
	}
	if gotXid != xid {
		return nil, malformed("reply to call %d, want %d", gotXid, xid)
	}
	mtype, err := r.uint32("message type")
	if err != nil {
		return nil, err
	}
	if mtype != msgReply {
		return nil, malformed("message type %d, want a reply", mtype)
	}
	stat, err := r.uint32("reply status")
	if err != nil {
		return nil, err
	}
	switch stat {
	case 0: // accepted
	case 1: // denied
		reject, err := r.uint32("reject status")
		if err != nil {
			return nil, err
		}
		if reject == 0 {
			return nil, &RPCError{Proc: proc, Reason: "RPC version mismatch"}
		}
		why, _ := r.uint32("auth status")
		reason := fmt.Sprintf("authentication error %d", why)
		if int(why) < len(authStats) {
			reason = "authentication error: " + authStats[why]
		}
		return nil, &RPCError{Proc: proc, Reason: reason}
	default:
		return nil, malformed("reply status %d", stat)
	}
	if _, err := r.uint32("verifier flavor"); err != nil {
		return nil, err
	}
	if _, err := r.opaque("verifier", 400); err != nil {
		return nil, err
	}
	accept, err := r.uint32("accept status")
	if err != nil {
		return nil, err
	}
	if accept != 0 {
		reason := fmt.Sprintf("accept status %d", accept)
		if int(accept) < len(acceptStats) {
			reason = acceptStats[accept]
		}
		return nil, &RPCError{Proc: proc, Reason: reason}
	}
	return rec[r.off:], nil
}

// cliResponse is gf_cli_rsp: how the operation went, and its dict.
type cliResponse struct {
	OpRet   int32
	OpErrno int32
	OpErr   string
	Dict    []byte // serialized, in the reply's buffer; decode with decodeDict
}

// parseCLIResponse decodes gf_cli_rsp.
func parseCLIResponse(b []byte) (cliResponse, error) {
	r := &xdrReader{b: b}
	var rsp cliResponse
	var err error
	if rsp.OpRet, err = r.int32("op_ret"); err != nil {
		return rsp, err
	}
	if rsp.OpErrno, err = r.int32("op_errno"); err != nil {
		return rsp, err
	}
	msg, err := r.opaque("op_errstr", len(b))
	if err != nil {
		return rsp, err
	}
	rsp.OpErr = string(msg)
	if rsp.Dict, err = r.opaque("dict", len(b)); err != nil {
		return rsp, err
	}
	return rsp, nil
}
