package glusterd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/glusterbus/glusterbus/internal/digest"
	"github.com/glusterbus/glusterbus/internal/gluster"
)

// DefaultSocket is where glusterd listens for its CLI.
const DefaultSocket = "/var/run/glusterd.socket"

// DefaultTimeout bounds one call when Client.Timeout is zero. An answer
// takes well under a millisecond; glusterd holding its big lock for a long
// operation is what a call may wait for.
const DefaultTimeout = 30 * time.Second

// glusterd's CLI program (rpc/rpc-lib/src/protocol-common.h).
const (
	cliProgram = 1238463
	cliVersion = 2
)

// Procedures of the CLI program used here (enum gluster_cli_procnum).
const (
	procListFriends = 3
	procGetVolume   = 5
	procGetwd       = 26
	procListVolume  = 33
	procUUIDGet     = 36
	procGetVolOpt   = 41
	procGetState    = 46
)

// Flags of LIST_FRIENDS (gf1_cli_friends_list) and GET_VOLUME
// (gf1_cli_get_volume).
// getStateDetail asks get-state for the bricks' runtime too
// (GF_CLI_GET_STATE_DETAIL).
const getStateDetail = 1

const (
	listPeers     = 1
	getVolume     = 2
	getNextVolume = 3
)

const (
	opVersionKey = "cluster.op-version"
	noMessage    = "glusterd reported failure without a message"
	uuidLength   = 36

	maxIdle           = 4       // connections kept between calls
	maxWalkRestarts   = 3       // walks of all volumes after the first
	maxVolumesInAWalk = 1 << 20 // a walk longer than that is going round in circles
	maxSkippedCalls   = 1024    // glusterd's calls passed over waiting for one reply
)

// Client asks glusterd over its CLI socket. It keeps a few connections open
// between calls and is safe for concurrent use; each call has a connection
// to itself.
type Client struct {
	// Socket is glusterd's CLI socket; DefaultSocket when empty.
	Socket string
	// Timeout bounds every call, connecting included; DefaultTimeout when
	// zero. A call also ends with its context.
	Timeout time.Duration
	// MaxReply bounds one answer's size; DefaultMaxReply when zero.
	MaxReply int
	// MaxInFlight bounds the calls of a pipelined read waiting for their
	// replies; 256 when zero.
	MaxInFlight int

	xid  atomic.Uint32
	mu   sync.Mutex
	idle []net.Conn
	cred []byte
	// parsed: volume name -> its last answer's digest and what it was
	// parsed into.
	parsed map[string]parsedVolume
	// state is the last get-state dump parsed, and its digest.
	state       *gluster.LocalState
	stateDigest digest.Sum
	// dial replaces dialing the socket (tests).
	dial func(ctx context.Context) (net.Conn, error)
	// prog and vers name the RPC program; glusterd's CLI program when
	// zero (quotad's aggregator is another).
	prog, vers uint32
}

// Close closes the connections kept open; the Client stays usable.
func (c *Client) Close() error {
	c.mu.Lock()
	idle := c.idle
	c.idle = nil
	c.mu.Unlock()
	for _, conn := range idle {
		conn.Close()
	}
	return nil
}

func (c *Client) socket() string {
	if c.Socket == "" {
		return DefaultSocket
	}
	return c.Socket
}

// conn returns an idle connection (reused) unless fresh, or a new one.
func (c *Client) conn(ctx context.Context, fresh bool) (conn net.Conn, reused bool, err error) {
	c.mu.Lock()
	if n := len(c.idle); n > 0 && !fresh {
		conn := c.idle[n-1]
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		return conn, true, nil
	}
	if c.cred == nil {
		host, _ := os.Hostname()
		if len(host) > 255 {
			host = host[:255]
		}
		c.cred = credentials(host, uint32(os.Geteuid()), uint32(os.Getegid()))
	}
	dial := c.dial
	c.mu.Unlock()
	if dial != nil {
		conn, err = dial(ctx)
	} else {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "unix", c.socket())
	}
	return conn, false, err
}

// release keeps a connection that ended a call cleanly.
func (c *Client) release(conn net.Conn) {
	conn.SetDeadline(time.Time{})
	c.mu.Lock()
	if len(c.idle) < maxIdle {
		c.idle = append(c.idle, conn)
		conn = nil
	}
	c.mu.Unlock()
	if conn != nil {
		conn.Close()
	}
}

// call makes one RPC and returns the procedure's results. A kept
// connection that glusterd closed meanwhile (it restarted) is replaced
// once: every procedure used here only reads.
func (c *Client) call(ctx context.Context, proc uint32, args []byte) ([]byte, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for fresh := false; ; fresh = true {
		conn, reused, err := c.conn(ctx, fresh)
		if err != nil {
			return nil, fmt.Errorf("glusterd: %w", err)
		}
		res, err := c.callOn(ctx, conn, proc, args)
		if err != nil && reused && closedByPeer(err) && ctx.Err() == nil {
			continue
		}
		return res, err
	}
}

// callOn makes one RPC on conn, which it keeps or closes.
func (c *Client) callOn(ctx context.Context, conn net.Conn, proc uint32, args []byte) ([]byte, error) {
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	// The context may end before the deadline (the caller left): cut the
	// connection's reads and writes short then too.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	res, err := c.exchange(conn, proc, args)
	cut := !stop()
	if err != nil {
		conn.Close()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// The connection's deadline is the context's, or the context
			// ended: say which.
			<-ctx.Done()
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("glusterd: procedure %d: %w", proc, ctxErr)
		}
		return nil, err
	}
	if cut {
		conn.Close() // its deadline is in the past now
	} else {
		c.release(conn)
	}
	return res, nil
}

// closedByPeer reports whether err says the other end closed the
// connection before answering.
func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}

func (c *Client) exchange(conn net.Conn, proc uint32, args []byte) ([]byte, error) {
	xid := c.xid.Add(1)
	c.mu.Lock()
	cred := c.cred
	c.mu.Unlock()
	prog, vers := c.prog, c.vers
	if prog == 0 {
		prog, vers = cliProgram, cliVersion
	}
	rec, err := callRecord(xid, prog, vers, proc, cred, args)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Write(rec); err != nil {
		return nil, fmt.Errorf("glusterd: procedure %d: %w", proc, err)
	}
	max := c.maxReply()
	for skipped := 0; ; skipped++ {
		reply, err := readRecord(conn, max)
		if err != nil {
			return nil, fmt.Errorf("glusterd: procedure %d: %w", proc, err)
		}
		// glusterd calls every client connected to it when volume files
		// change (GF_CBK_FETCHSPEC): such a call may come before the
		// reply, or wait on an idle connection. Clients need not answer.
		if isCall(reply) && skipped < maxSkippedCalls {
			continue
		}
		return parseReply(reply, xid, proc)
	}
}

func (c *Client) maxReply() int {
	if c.MaxReply <= 0 {
		return DefaultMaxReply
	}
	return c.MaxReply
}

// callDict calls a procedure that takes gf_cli_req and answers gf_cli_rsp.
// A failure glusterd reports (op_ret != 0) is a *gluster.CLIError, the same
// as the CLI's, so that errors.Is(err, gluster.ErrNoVolume) and the like
// hold for both.
func (c *Client) callDict(ctx context.Context, proc uint32, op string, req Dict) (Dict, error) {
	var w xdrWriter
	w.opaque(encodeDict(req))
	res, err := c.call(ctx, proc, w.b)
	if err != nil {
		return nil, err
	}
	rsp, err := parseCLIResponse(res)
	if err != nil {
		return nil, fmt.Errorf("glusterd %s: %w", op, err)
	}
	if rsp.OpRet != 0 {
		return nil, opError(op, rsp.OpRet, rsp.OpErrno, rsp.OpErr)
	}
	d, err := decodeDict(rsp.Dict)
	if err != nil {
		return nil, fmt.Errorf("glusterd %s: %w", op, err)
	}
	return d, nil
}

func opError(op string, ret, errno int32, msg string) error {
	msg = strings.TrimSpace(msg)
	if msg == "" {
		msg = noMessage
	}
	return &gluster.CLIError{Op: op, ExitCode: -1, OpRet: int(ret), OpErrno: int(errno), Message: msg}
}

// VolumeInfo returns the volumes (all of them when volume is "" or "all"),
// as gluster.CLI.VolumeInfo does.
func (c *Client) VolumeInfo(ctx context.Context, volume string) ([]gluster.Volume, error) {
	if volume == "" || volume == "all" {
		return c.Volumes(ctx)
	}
	v, err := c.Volume(ctx, volume)
	if err != nil {
		return nil, err
	}
	return []gluster.Volume{v}, nil
}

// Volume returns one volume. A volume glusterd does not know is an error
// that matches gluster.ErrNoVolume.
func (c *Client) Volume(ctx context.Context, name string) (gluster.Volume, error) {
	res, err := c.call(ctx, procGetVolume, volumeArgs(name))
	if err != nil {
		return gluster.Volume{}, err
	}
	return c.volumeAnswer(name, res, nil)
}

// volumeArgs asks GET_VOLUME for one volume by name.
func volumeArgs(name string) []byte { return appendVolumeArgs(nil, name) }

// appendVolumeArgs appends volumeArgs(name) to b: the dict
// {"flags": "2", "volname": name} serialized as encodeDict does (keys in
// order), written directly, as a read of every volume makes thousands.
func appendVolumeArgs(b []byte, name string) []byte {
	const flags, volname = "flags", "volname"
	value := strconv.Itoa(getVolume)
	dictLen := 4 + 2*pairHeader + len(flags) + 1 + len(value) + 1 + len(volname) + 1 + len(name) + 1
	w := xdrWriter{b: b}
	w.uint32(uint32(dictLen))
	w.uint32(2)
	for _, kv := range [2][2]string{{flags, value}, {volname, name}} {
		w.uint32(uint32(len(kv[0])))
		w.uint32(uint32(len(kv[1]) + 1))
		w.b = append(append(append(append(w.b, kv[0]...), 0), kv[1]...), 0)
	}
	w.b = append(w.b, zeros[:pad(dictLen)]...)
	return w.b
}

// parsedVolume is a volume's last answer: its dict's digest and the volume
// read from it.
type parsedVolume struct {
	digest digest.Sum
	vol    gluster.Volume
}

// volumeAnswer reads GET_VOLUME's answer about one volume. An answer that
// is the same as the last one about that volume (the same digest of its
// dict) is not parsed again: the volume read from it then is returned,
// sharing its options and bricks, which callers must not change. Nothing
// of res is kept (the strings decoded from it are copies): a pipelined
// read reads the next reply into the same buffer.
func (c *Client) volumeAnswer(name string, res []byte, shared *sharedStrings) (gluster.Volume, error) {
	// The operation's name is only made for an error: a read of thousands
	// of volumes would make thousands of strings for nothing.
	failed := func(err error) error { return fmt.Errorf("glusterd volume info %s: %w", name, err) }
	rsp, err := parseCLIResponse(res)
	if err != nil {
		return gluster.Volume{}, failed(err)
	}
	if rsp.OpRet != 0 {
		err := opError("volume info "+name, rsp.OpRet, rsp.OpErrno, rsp.OpErr)
		if errors.Is(err, gluster.ErrNoVolume) {
			c.mu.Lock()
			delete(c.parsed, name)
			c.mu.Unlock()
		}
		return gluster.Volume{}, err
	}
	sum := digest.Of(rsp.Dict)
	c.mu.Lock()
	last, ok := c.parsed[name]
	c.mu.Unlock()
	if ok && last.digest == sum {
		return last.vol, nil
	}
	d, err := decodeDictValues(rsp.Dict, true, shared)
	if err != nil {
		return gluster.Volume{}, failed(err)
	}
	vols, err := volumesFromDict(d)
	if err != nil {
		return gluster.Volume{}, failed(err)
	}
	if len(vols) != 1 || vols[0].Name != name {
		return gluster.Volume{}, failed(malformed("%d volumes in the answer", len(vols)))
	}
	c.mu.Lock()
	if c.parsed == nil {
		c.parsed = map[string]parsedVolume{}
	}
	c.parsed[name] = parsedVolume{sum, vols[0]}
	c.mu.Unlock()
	return vols[0], nil
}

// Volumes returns every volume, in glusterd's order as the CLI gives them:
// the names from LIST_VOLUME, then every volume by name, the calls
// pipelined on one connection. (GET_VOLUME's own "all volumes" flag
// answers no volume at all on glusterd 10.3.) A volume deleted between the
// list and its own answer is left out, as it would be had the read come a
// moment later. A glusterd that does not understand LIST_VOLUME is walked
// instead, one volume after the other, as the CLI walks it.
func (c *Client) Volumes(ctx context.Context) ([]gluster.Volume, error) {
	names, err := c.VolumeNames(ctx)
	if errors.Is(err, ErrNotUnderstood) {
		return c.walk(ctx)
	}
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		c.mu.Lock()
		clear(c.parsed)
		c.mu.Unlock()
		return []gluster.Volume{}, nil
	}
	args := func(b []byte, i int) []byte { return appendVolumeArgs(b, names[i]) }
	got := make([]gluster.Volume, len(names))
	present := make([]bool, len(names))
	shared := &sharedStrings{} // the answers come one after the other
	err = c.pipeline(ctx, procGetVolume, len(names), args, func(i int, res []byte) error {
		v, err := c.volumeAnswer(names[i], res, shared)
		if errors.Is(err, gluster.ErrNoVolume) {
			return nil // deleted since the list
		}
		got[i], present[i] = v, err == nil
		return err
	})
	if err != nil {
		return nil, err
	}
	vols := got[:0] // the answers, in place: a copy is 0.7 MB at 5 000 volumes
	for i := range got {
		if present[i] {
			vols = append(vols, got[i])
		}
	}
	clear(got[len(vols):])
	c.mu.Lock()
	kept := 0
	for _, name := range names {
		if _, ok := c.parsed[name]; ok {
			kept++
		}
	}
	if kept < len(c.parsed) { // some of the volumes remembered are gone
		listed := make(map[string]bool, len(names))
		for _, name := range names {
			listed[name] = true
		}
		for name := range c.parsed {
			if !listed[name] {
				delete(c.parsed, name)
			}
		}
	}
	c.mu.Unlock()
	return vols, nil
}

// VolumeNames returns the names of every volume (LIST_VOLUME, `volume
// list`), in glusterd's order.
func (c *Client) VolumeNames(ctx context.Context) ([]string, error) {
	const op = "volume list"
	d, err := c.callDict(ctx, procListVolume, op, Dict{})
	if err != nil {
		return nil, err
	}
	count, err := d.Int("count")
	if err == nil && (count < 0 || int(count) >= len(d)) {
		err = malformed("count %d with %d keys", count, len(d))
	}
	if err != nil {
		return nil, fmt.Errorf("glusterd %s: %w", op, err)
	}
	names := make([]string, 0, count)
	seen := make(map[string]bool, count)
	for i := range int(count) {
		name, err := d.Str("volume" + strconv.Itoa(i))
		if err == nil && (name == "" || seen[name]) {
			err = malformed("volume %d is %q", i, name)
		}
		if err != nil {
			return nil, fmt.Errorf("glusterd %s: %w", op, err)
		}
		seen[name] = true
		names = append(names, name)
	}
	return names, nil
}

// walk reads every volume one after the other (GET_VOLUME's "next volume"
// flag), as the CLI does. glusterd ends such a walk early, without an
// error, when the volume it was asked to go on from has been deleted
// meanwhile; the walk then starts again, so that a deletion never hides the
// volumes after it.
func (c *Client) walk(ctx context.Context) ([]gluster.Volume, error) {
	for attempt := 0; ; attempt++ {
		vols, complete, err := c.walkVolumes(ctx)
		if err != nil || complete {
			return vols, err
		}
		if attempt == maxWalkRestarts {
			return nil, errors.New("glusterd volume info all: volumes kept being deleted during the read")
		}
	}
}

// walkVolumes reads every volume once; complete is false when the walk may
// have ended early.
func (c *Client) walkVolumes(ctx context.Context) (vols []gluster.Volume, complete bool, err error) {
	const op = "volume info all"
	seen := map[string]bool{}
	req := Dict{"flags": strconv.Itoa(getNextVolume)}
	for {
		d, err := c.callDict(ctx, procGetVolume, op, req)
		if err != nil {
			return nil, false, err
		}
		got, err := volumesFromDict(d)
		if err != nil {
			return nil, false, fmt.Errorf("glusterd %s: %w", op, err)
		}
		if len(got) == 0 {
			break
		}
		if len(got) != 1 {
			return nil, false, fmt.Errorf("glusterd %s: %w", op, malformed("%d volumes in one step of the walk", len(got)))
		}
		v := got[0]
		if seen[v.Name] || len(seen) >= maxVolumesInAWalk {
			return nil, false, fmt.Errorf("glusterd %s: %w", op, malformed("the walk came back to volume %q", v.Name))
		}
		seen[v.Name] = true
		vols = append(vols, v)
		req = Dict{"flags": strconv.Itoa(getNextVolume), "volname": v.Name}
	}
	if len(vols) == 0 {
		return vols, true, nil
	}
	// Did the walk end at the last volume, or at one that is gone?
	last := vols[len(vols)-1].Name
	if _, err := c.Volume(ctx, last); err != nil {
		if errors.Is(err, gluster.ErrNoVolume) {
			return nil, false, nil
		}
		return nil, false, err
	}
	return vols, true, nil
}

// Peers returns the other members of the pool, as gluster.CLI.Peers does
// (`peer status`).
func (c *Client) Peers(ctx context.Context) ([]gluster.Peer, error) {
	const op = "peer status"
	var w xdrWriter
	w.int32(listPeers)
	w.opaque(nil)
	res, err := c.call(ctx, procListFriends, w.b)
	if err != nil {
		return nil, err
	}
	// gf1_cli_peer_list_rsp: op_ret, op_errno, friends (a dict).
	r := &xdrReader{b: res}
	ret, err := r.int32("op_ret")
	if err != nil {
		return nil, fmt.Errorf("glusterd %s: %w", op, err)
	}
	errno, err := r.int32("op_errno")
	if err != nil {
		return nil, fmt.Errorf("glusterd %s: %w", op, err)
	}
	friends, err := r.opaque("friends", len(res))
	if err != nil {
		return nil, fmt.Errorf("glusterd %s: %w", op, err)
	}
	if ret != 0 {
		return nil, opError(op, ret, errno, "")
	}
	d, err := decodeDict(friends)
	if err != nil {
		return nil, fmt.Errorf("glusterd %s: %w", op, err)
	}
	peers, err := peersFromDict(d)
	if err != nil {
		return nil, fmt.Errorf("glusterd %s: %w", op, err)
	}
	return peers, nil
}

// LocalUUID returns glusterd's own UUID (`system:: uuid get`).
func (c *Client) LocalUUID(ctx context.Context) (string, error) {
	const op = "system:: uuid get"
	d, err := c.callDict(ctx, procUUIDGet, op, Dict{})
	if err != nil {
		return "", err
	}
	u, err := d.Str("uuid")
	if err == nil && len(u) != uuidLength {
		err = malformed("uuid %q", u)
	}
	if err != nil {
		return "", fmt.Errorf("glusterd %s: %w", op, err)
	}
	return u, nil
}

// OpVersion returns the cluster's operating version (`volume get all
// cluster.op-version`).
func (c *Client) OpVersion(ctx context.Context) (uint32, error) {
	const op = "volume get all " + opVersionKey
	d, err := c.callDict(ctx, procGetVolOpt, op, Dict{"volname": "all", "key": opVersionKey})
	if err != nil {
		return 0, err
	}
	n, err := d.Int("count")
	if err != nil {
		return 0, fmt.Errorf("glusterd %s: %w", op, err)
	}
	for i := int32(1); i <= n && i <= 1024; i++ {
		if d[fmt.Sprintf("key%d", i)] != opVersionKey {
			continue
		}
		v, err := strconv.ParseUint(d[fmt.Sprintf("value%d", i)], 10, 32)
		if err != nil {
			break
		}
		return uint32(v), nil
	}
	return 0, fmt.Errorf("glusterd %s: %w", op, malformed("no %s in the answer", opVersionKey))
}

// Workdir returns glusterd's working directory (`system:: getwd`).
func (c *Client) Workdir(ctx context.Context) (string, error) {
	const op = "system:: getwd"
	var w xdrWriter
	w.int32(0) // gf1_cli_getwd_req's unused field
	res, err := c.call(ctx, procGetwd, w.b)
	if err != nil {
		return "", err
	}
	// gf1_cli_getwd_rsp: op_ret, op_errno, wd.
	r := &xdrReader{b: res}
	ret, err := r.int32("op_ret")
	if err != nil {
		return "", fmt.Errorf("glusterd %s: %w", op, err)
	}
	errno, err := r.int32("op_errno")
	if err != nil {
		return "", fmt.Errorf("glusterd %s: %w", op, err)
	}
	wd, err := r.opaque("wd", 4096)
	if err != nil {
		return "", fmt.Errorf("glusterd %s: %w", op, err)
	}
	if ret != 0 {
		return "", opError(op, ret, errno, "")
	}
	dir := string(wd)
	if !strings.HasPrefix(dir, "/") || strings.ContainsAny(dir, "\x00\n") {
		return "", fmt.Errorf("glusterd %s: %w", op, malformed("working directory %q", dir))
	}
	return dir, nil
}

// LocalState returns this node's state as gluster.CLI.LocalState does
// (`get-state glusterd odir DIR file F detail`): glusterd writes it to a
// file in a private directory, which is read and removed. The file is read
// where it was asked for, never from a path the answer names. When glusterd
// reports success but the file is not there to read (glusterd sees another
// file system) or cannot be parsed, the answer is not understood.
func (c *Client) LocalState(ctx context.Context) (*gluster.LocalState, error) {
	const op = "get-state glusterd detail"
	answered := false
	st, err := gluster.DumpLocalStateWith(func(dir, file string) error {
		_, err := c.callDict(ctx, procGetState, op, Dict{
			"daemon":       "glusterd",
			"odir":         dir,
			"filename":     file,
			"getstate-cmd": strconv.Itoa(getStateDetail),
		})
		answered = err == nil
		return err
	}, c.readState)
	if err != nil && answered {
		return nil, fmt.Errorf("glusterd %s: %w", op, malformed("%v", err))
	}
	return st, err
}

// readState parses a get-state dump, or copies what the same dump (same
// digest) was parsed into last time: on a quiet cluster the dump is the
// same from one read to the next, and parsing it is most of what a read of
// thousands of bricks costs. The dump is read through once for its digest,
// a piece at a time, and once more to be parsed only when it changed. The
// copy's bricks and tasks are its own, to be completed by the caller; its
// volume list and map are shared.
func (c *Client) readState(f *os.File) (*gluster.LocalState, error) {
	h := digest.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("gluster get-state: %w", err)
	}
	sum := h.Sum()
	c.mu.Lock()
	last := c.state
	same := last != nil && c.stateDigest == sum
	c.mu.Unlock()
	if !same {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("gluster get-state: %w", err)
		}
		st, err := gluster.ReadGetState(f)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.state, c.stateDigest = st, sum
		c.mu.Unlock()
		last = st
	}
	st := *last
	st.Bricks = slices.Clone(last.Bricks)
	st.Tasks = slices.Clone(last.Tasks)
	return &st, nil
}
