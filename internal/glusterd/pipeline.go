package glusterd

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// maxInFlight bounds the calls of a pipeline waiting for their replies: a
// window, so that neither side's socket buffer has to hold every call or
// every reply at once.
const maxInFlight = 256

func (c *Client) inFlight() int {
	if c.MaxInFlight <= 0 {
		return maxInFlight
	}
	return c.MaxInFlight
}

// pipeline makes calls calls of proc on one connection, without waiting for
// a reply before the next call, and hands each reply's results to each with
// the index of its call. args appends the arguments of call i to a buffer:
// they are written as the calls go out, none made before its turn. glusterd
// may answer out of order; replies are matched to calls by XID. The
// results given to each share a buffer that the next reply overwrites:
// each copies what it keeps. Every call only reads, so a kept connection
// that glusterd closed before answering anything is replaced once, as in
// call.
func (c *Client) pipeline(ctx context.Context, proc uint32, calls int, args func(b []byte, i int) []byte, each func(i int, res []byte) error) error {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for fresh := false; ; fresh = true {
		conn, reused, err := c.conn(ctx, fresh)
		if err != nil {
			return fmt.Errorf("glusterd: %w", err)
		}
		answered, err := c.pipelineOn(ctx, conn, proc, calls, args, each)
		if err != nil && reused && answered == 0 && closedByPeer(err) && ctx.Err() == nil {
			continue
		}
		return err
	}
}

// pipelineOn runs a pipeline on conn, which it keeps or closes, and says
// how many replies came.
func (c *Client) pipelineOn(ctx context.Context, conn net.Conn, proc uint32, calls int, args func([]byte, int) []byte, each func(int, []byte) error) (int, error) {
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	n := uint32(calls)
	first := c.xid.Add(n) - n + 1 // a block of XIDs of its own
	c.mu.Lock()
	cred := c.cred
	c.mu.Unlock()

	window := make(chan struct{}, c.inFlight())
	quit := make(chan struct{})
	wrote := make(chan error, 1)
	go func() { wrote <- writeCalls(conn, window, quit, first, proc, cred, calls, args) }()

	answered, keep, err := readReplies(conn, c.maxReply(), window, first, proc, calls, each)
	cut := !stop()
	if err != nil {
		close(quit)
		conn.Close() // ends a write blocked on a full socket
		if werr := <-wrote; werr != nil && !errors.Is(werr, net.ErrClosed) {
			err = werr
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			<-ctx.Done()
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return answered, fmt.Errorf("glusterd: procedure %d: %w", proc, ctxErr)
		}
		return answered, err
	}
	// Every call was answered, so every call was written.
	if werr := <-wrote; werr != nil || cut || !keep {
		conn.Close()
		return answered, werr
	}
	c.release(conn)
	return answered, nil
}

// writeCalls writes the calls, as many in one write as the window allows.
func writeCalls(conn net.Conn, window chan struct{}, quit chan struct{}, first, proc uint32, cred []byte, calls int, args func([]byte, int) []byte) error {
	var buf []byte
	for i := 0; i < calls; {
		select {
		case window <- struct{}{}:
		case <-quit:
			return nil
		}
		buf = buf[:0]
		for {
			start := len(buf)
			buf = args(appendCallHead(buf, first+uint32(i), cliProgram, cliVersion, proc, cred), i)
			var err error
			if buf, err = endCall(buf, start); err != nil {
				conn.Close()
				return err
			}
			i++
			if i == calls || len(buf) >= maxFragment {
				break
			}
			select {
			case window <- struct{}{}:
				continue
			default:
			}
			break
		}
		if _, err := conn.Write(buf); err != nil {
			return fmt.Errorf("glusterd: procedure %d: %w", proc, err)
		}
	}
	return nil
}

// readReplies reads one reply per call, frees a place in the window for
// each, and hands the results on. Calls glusterd makes meanwhile are
// passed over, as in exchange. keep says whether the connection can be
// used again: nothing of it was read ahead.
//
// Every reply is read into the same buffer, so that a read of thousands of
// volumes does not leave thousands of buffers to the garbage collector: the
// results handed to each are only good until each returns, and whatever it
// keeps of them must be copied.
func readReplies(conn net.Conn, max int, window chan struct{}, first, proc uint32, calls int, each func(int, []byte) error) (answered int, keep bool, err error) {
	r := bufio.NewReaderSize(conn, 64<<10)
	seen := make([]bool, calls)
	skipped := 0
	var buf []byte
	for answered < calls {
		rec, err := readRecordInto(r, max, buf)
		if err != nil {
			return answered, false, fmt.Errorf("glusterd: procedure %d: %w", proc, err)
		}
		buf = rec
		if isCall(rec) && skipped < maxSkippedCalls {
			skipped++
			continue
		}
		if len(rec) < 4 {
			return answered, false, malformed("reply of %d bytes", len(rec))
		}
		xid := binary.BigEndian.Uint32(rec)
		i := int(xid - first)
		if xid-first >= uint32(calls) || seen[i] {
			return answered, false, malformed("reply to call %d, not one waiting", xid)
		}
		seen[i] = true
		res, err := parseReply(rec, xid, proc)
		if err != nil {
			return answered, false, err
		}
		answered++
		<-window
		if err := each(i, res); err != nil {
			return answered, false, err
		}
	}
	// Bytes read ahead are part of a call glusterd made after the last
	// reply: the connection is not kept without them.
	return answered, r.Buffered() == 0, nil
}
