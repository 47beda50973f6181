// Command fakeglusterd stands in for glusterd's CLI socket in scale
// benchmarks, and only there: it answers the ONC RPC calls glusterbus makes
// (program 1238463 version 2) for the volumes of a directory written by
// `fakegluster gen`, so that the socket and the fake CLI tell the same
// cluster.
//
//	fakeglusterd -dir DIR -socket PATH [-stats PATH]
//
// It answers LIST_VOLUME, GET_VOLUME (by name, the walk, and the
// all-volumes flag with no volume, as glusterd 10.3 does), LIST_FRIENDS,
// UUID_GET, GETWD, GET_VOL_OPT (cluster.op-version) and GET_STATE (a dump
// of this node's state written where it is asked); any other procedure is
// refused as unavailable. Calls on one connection may be pipelined; replies
// go out in order. Every connection to the -stats socket gets one JSON
// line: the calls answered so far by procedure, and the connections taken.
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/glusterbus/glusterbus/internal/gluster"
)

// Procedures of glusterd's CLI program (enum gluster_cli_procnum).
const (
	procListFriends = 3
	procGetVolume   = 5
	procGetwd       = 26
	procListVolume  = 33
	procUUIDGet     = 36
	procGetVolOpt   = 41
	procGetState    = 46

	cliProgram = 1238463
	cliVersion = 2

	errnoNoVolume = 30806 // EG_NOVOL
)

func main() {
	dir := flag.String("dir", "", "directory written by `fakegluster gen`")
	sock := flag.String("socket", "", "unix socket to serve glusterd's CLI program on")
	stats := flag.String("stats", "", "unix socket that tells the calls answered")
	flag.Parse()
	if *dir == "" || *sock == "" {
		log.Fatal("fakeglusterd: -dir and -socket are required")
	}
	c, err := load(*dir)
	if err != nil {
		log.Fatal("fakeglusterd: ", err)
	}
	l, err := net.Listen("unix", *sock)
	if err != nil {
		log.Fatal("fakeglusterd: ", err)
	}
	if *stats != "" {
		sl, err := net.Listen("unix", *stats)
		if err != nil {
			log.Fatal("fakeglusterd: ", err)
		}
		go c.serveStats(sl)
	}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
		<-sig
		l.Close()
		os.Remove(*stats)
		os.Exit(0)
	}()
	fmt.Printf("fakeglusterd: %d volumes on %s\n", len(c.names), *sock)
	for {
		conn, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			log.Print("fakeglusterd: ", err)
			continue
		}
		c.conns.Add(1)
		go c.serve(conn)
	}
}

// cluster is what the fake answers, most of it encoded once.
type cluster struct {
	names   []string          // glusterd's order
	volumes map[string][]byte // name -> GET_VOLUME's gf_cli_rsp
	index   map[string]int
	list    []byte // LIST_VOLUME's gf_cli_rsp
	peers   []byte // LIST_FRIENDS's gf1_cli_peer_list_rsp
	uuid    []byte
	opVer   []byte
	getwd   []byte
	state   []byte // the get-state dump
	workdir string

	mu    sync.Mutex
	calls map[uint32]int64
	conns atomic.Int64
}

func load(dir string) (*cluster, error) {
	read := func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, name)) }
	info, err := read("volume-info-all.xml")
	if err != nil {
		return nil, err
	}
	vols, err := gluster.ParseVolumeInfo(info)
	if err != nil {
		return nil, err
	}
	status, err := read("volume-status-all-detail.xml")
	if err != nil {
		return nil, err
	}
	runtime, err := gluster.ParseVolumeStatusDetail(status)
	if err != nil {
		return nil, err
	}
	peerXML, err := read("peer-status.xml")
	if err != nil {
		return nil, err
	}
	peers, err := gluster.ParsePeerStatus(peerXML)
	if err != nil {
		return nil, err
	}
	poolXML, err := read("pool-list.xml")
	if err != nil {
		return nil, err
	}
	self, _, err := gluster.ParsePoolList(poolXML)
	if err != nil {
		return nil, err
	}
	opXML, err := read("op-version.xml")
	if err != nil {
		return nil, err
	}
	op, err := gluster.ParseOpVersion(opXML)
	if err != nil {
		return nil, err
	}
	c := &cluster{volumes: map[string][]byte{}, index: map[string]int{}, calls: map[uint32]int64{},
		workdir: filepath.Join(dir, "workdir")}
	if c.workdir, err = filepath.Abs(c.workdir); err != nil {
		return nil, err
	}
	// glusterd keeps its volumes ordered by name.
	slices.SortFunc(vols, func(a, b gluster.Volume) int { return strings.Compare(a.Name, b.Name) })
	listed := dict{}
	for i, v := range vols {
		c.names = append(c.names, v.Name)
		c.index[v.Name] = i
		c.volumes[v.Name] = cliRsp(0, 0, "", volumeDict(v))
		listed.set("volume"+strconv.Itoa(i), v.Name)
	}
	listed.set("count", strconv.Itoa(len(vols)))
	c.list = cliRsp(0, 0, "", listed)
	c.peers = peerList(peers)
	c.uuid = cliRsp(0, 0, "", dict{{"uuid", self.UUID}})
	c.opVer = cliRsp(0, 0, "", dict{{"count", "1"}, {"key1", "cluster.op-version"}, {"value1", strconv.FormatUint(uint64(op), 10)}})
	var w xdr
	w.u32(0)
	w.u32(0)
	w.opaque([]byte(c.workdir))
	c.getwd = w.b
	c.state = stateDump(self.UUID, op, vols, peers, runtime)
	return c, nil
}

// dict is a glusterd dict in the order its pairs were set.
type dict [][2]string

func (d *dict) set(k, v string) { *d = append(*d, [2]string{k, v}) }

// encode serializes it as libglusterfs does: count, then per pair the
// key's length, the value's length with its NUL, key, NUL, value, NUL.
func (d dict) encode() []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(d)))
	for _, kv := range d {
		b = binary.BigEndian.AppendUint32(b, uint32(len(kv[0])))
		b = binary.BigEndian.AppendUint32(b, uint32(len(kv[1])+1))
		b = append(b, kv[0]...)
		b = append(b, 0)
		b = append(b, kv[1]...)
		b = append(b, 0)
	}
	return b
}

type xdr struct{ b []byte }

func (w *xdr) u32(v uint32) { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *xdr) opaque(p []byte) {
	w.u32(uint32(len(p)))
	w.b = append(w.b, p...)
	w.b = append(w.b, make([]byte, (4-len(p)%4)%4)...)
}

// cliRsp is gf_cli_rsp.
func cliRsp(ret, errno int32, msg string, d dict) []byte {
	var w xdr
	w.u32(uint32(ret))
	w.u32(uint32(errno))
	w.opaque([]byte(msg))
	w.opaque(d.encode())
	return w.b
}

// Type codes (gf1_cluster_type) and the CLI's status codes.
var (
	typeCodes   = map[string]int{"Distribute": 0, "Replicate": 2, "Disperse": 4}
	statusCodes = map[string]int{"Created": 0, "Started": 1, "Stopped": 2}
	transports  = map[string]int{"tcp": 0, "rdma": 1, "tcp,rdma": 2}
)

// volumeDict is what glusterd answers about one volume (keys as GlusterFS
// 10.3 sends them).
func volumeDict(v gluster.Volume) dict {
	var d dict
	p := "volume0."
	set := func(k string, n uint32) { d.set(p+k, strconv.FormatUint(uint64(n), 10)) }
	d.set(p+"name", v.Name)
	d.set(p+"type", strconv.Itoa(typeCodes[strings.TrimPrefix(v.Type, "Distributed-")]))
	d.set(p+"status", strconv.Itoa(statusCodes[v.Status]))
	set("brick_count", v.BrickCount)
	set("dist_count", v.BrickCount/max(v.DistCount, 1))
	set("replica_count", v.ReplicaCount)
	set("arbiter_count", v.ArbiterCount)
	set("thin_arbiter_count", 0)
	set("disperse_count", v.DisperseCount)
	set("redundancy_count", v.RedundancyCount)
	set("snap_count", v.SnapshotCount)
	d.set(p+"transport", strconv.Itoa(transports[v.Transport]))
	d.set(p+"volume_id", v.ID)
	d.set(p+"rebalance", "0")
	for i, b := range v.Bricks {
		k := p + "brick" + strconv.Itoa(i+1)
		d.set(k, b.Name)
		d.set(k+".uuid", b.HostUUID)
		if b.IsArbiter {
			d.set(k+".isArbiter", "1")
		}
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range v.Options {
			if !yield(k) {
				return
			}
		}
	})
	set("opt_count", uint32(len(keys)))
	for _, k := range keys {
		d.set(p+"option."+k, v.Options[k])
	}
	d.set("count", "1")
	return d
}

// peerList is gf1_cli_peer_list_rsp: op_ret, op_errno, friends.
func peerList(peers []gluster.Peer) []byte {
	var d dict
	for i, pr := range peers {
		p := "friend" + strconv.Itoa(i+1) + "."
		d.set(p+"uuid", pr.UUID)
		d.set(p+"hostname", pr.Hostname)
		d.set(p+"port", "24007")
		connected := "0"
		if pr.Connected {
			connected = "1"
		}
		d.set(p+"connected", connected)
		d.set(p+"state", pr.State)
		d.set(p+"hostname_count", strconv.Itoa(len(pr.Hostnames)))
		for j, h := range pr.Hostnames {
			d.set(p+"hostname"+strconv.Itoa(j), h)
		}
	}
	d.set("count", strconv.Itoa(len(peers)))
	var w xdr
	w.u32(0)
	w.u32(0)
	w.opaque(d.encode())
	return w.b
}

// stateDump is `get-state glusterd detail` of this node: every volume,
// this node's bricks with their runtime.
func stateDump(self string, op uint32, vols []gluster.Volume, peers []gluster.Peer, runtime []gluster.BrickStatus) []byte {
	rt := map[string]gluster.BrickStatus{}
	for _, b := range runtime {
		rt[b.Host+":"+b.Path] = b
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[Global]\nMYUUID: %s\nop-version: %d\n\n[Global options]\n\n[Peers]\n", self, op)
	for i, p := range peers {
		fmt.Fprintf(&b, "Peer%d.primary_hostname: %s\nPeer%d.uuid: %s\nPeer%d.state: %s\nPeer%d.connected: Connected\nPeer%d.othernames: \n",
			i+1, p.Hostname, i+1, p.UUID, i+1, p.State, i+1, i+1)
	}
	b.WriteString("\n[Volumes]\n")
	for i, v := range vols {
		n := i + 1
		fmt.Fprintf(&b, "Volume%d.name: %s\nVolume%d.id: %s\nVolume%d.type: %s\nVolume%d.transport_type: %s\nVolume%d.status: %s\nVolume%d.profile_enabled: 0\nVolume%d.brickcount: %d\n",
			n, v.Name, n, v.ID, n, v.Type, n, v.Transport, n, v.Status, n, n, len(v.Bricks))
		for j, br := range v.Bricks {
			k := fmt.Sprintf("Volume%d.Brick%d", n, j+1)
			fmt.Fprintf(&b, "%s.path: %s\n%s.hostname: %s\n", k, br.Name, k, br.Host)
			if br.HostUUID != self {
				continue
			}
			st, ok := rt[br.Name]
			status := "Stopped"
			if ok && st.Online && v.Status == "Started" {
				status = "Started"
			}
			fmt.Fprintf(&b, "%s.port: %d\n%s.rdma_port: 0\n%s.port_registered: 1\n%s.status: %s\n%s.spacefree: %dBytes\n%s.spacetotal: %dBytes\n%s.client_count: 0\n",
				k, st.Port, k, k, k, status, k, st.SizeFree, k, st.SizeTotal, k)
		}
		fmt.Fprintf(&b, "Volume%d.snap_count: %d\nVolume%d.stripe_count: 1\nVolume%d.replica_count: %d\nVolume%d.subvol_count: %d\nVolume%d.arbiter_count: %d\nVolume%d.disperse_count: %d\nVolume%d.redundancy_count: %d\nVolume%d.quorum_status: not_applicable\n",
			n, v.SnapshotCount, n, n, v.ReplicaCount, n, v.DistCount, n, v.ArbiterCount, n, v.DisperseCount, n, v.RedundancyCount, n)
		fmt.Fprintf(&b, "Volume%d.rebalance.id: 00000000-0000-0000-0000-000000000000\nVolume%d.rebalance.status: not_started\nVolume%d.rebalance.failures: 0\nVolume%d.rebalance.skipped: 0\nVolume%d.rebalance.lookedup: 0\nVolume%d.rebalance.files: 0\nVolume%d.rebalance.data: 0Bytes\nVolume%d.time_left: 0\nVolume%d.gsync_count: 0\n",
			n, n, n, n, n, n, n, n, n)
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range v.Options {
				if !yield(k) {
					return
				}
			}
		}) {
			fmt.Fprintf(&b, "Volume%d.options.%s: %s\n", n, k, v.Options[k])
		}
		b.WriteString("\n")
	}
	b.WriteString("\n[Services]\nsvc1.name: bitd\nsvc1.online_status: Offline\n\n[Misc]\nBase port: 49152\n")
	return []byte(b.String())
}

// serve answers the calls of one connection in order.
func (c *cluster) serve(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReaderSize(conn, 64<<10)
	w := bufio.NewWriterSize(conn, 64<<10)
	for {
		rec, err := readRecord(r)
		if err != nil {
			return
		}
		xid, proc, args, ok := parseCall(rec)
		if !ok {
			return
		}
		res, accept := c.answer(proc, args)
		c.mu.Lock()
		c.calls[proc]++
		c.mu.Unlock()
		var h xdr
		h.u32(0) // the fragment header, set below
		h.u32(xid)
		h.u32(1) // reply
		h.u32(0) // accepted
		h.u32(0) // verifier: AUTH_NONE, empty
		h.u32(0)
		h.u32(accept)
		binary.BigEndian.PutUint32(h.b, 0x80000000|uint32(len(h.b)-4+len(res)))
		w.Write(h.b)
		w.Write(res)
		if r.Buffered() == 0 {
			if w.Flush() != nil {
				return
			}
		}
	}
}

func readRecord(r io.Reader) ([]byte, error) {
	var rec []byte
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return nil, err
		}
		h := binary.BigEndian.Uint32(hdr[:])
		n := int(h &^ 0x80000000)
		if n > 1<<20 || len(rec)+n > 1<<20 {
			return nil, errors.New("call too large")
		}
		start := len(rec)
		rec = append(rec, make([]byte, n)...)
		if _, err := io.ReadFull(r, rec[start:]); err != nil {
			return nil, err
		}
		if h&0x80000000 != 0 {
			return rec, nil
		}
	}
}

// parseCall reads a call's XID, procedure and arguments (a dict, for the
// procedures that take one).
func parseCall(rec []byte) (xid, proc uint32, args map[string]string, ok bool) {
	off := 0
	u32 := func() uint32 {
		if off+4 > len(rec) {
			ok = false
			return 0
		}
		v := binary.BigEndian.Uint32(rec[off:])
		off += 4
		return v
	}
	opaque := func() []byte {
		n := int(u32())
		if !ok || n > len(rec)-off {
			ok = false
			return nil
		}
		p := rec[off : off+n]
		off += n + (4-n%4)%4
		return p
	}
	ok = true
	xid = u32()
	if u32() != 0 || u32() != 2 || u32() != cliProgram || u32() != cliVersion {
		return 0, 0, nil, false
	}
	proc = u32()
	u32()
	opaque() // credentials
	u32()
	opaque() // verifier
	if proc == procListFriends || proc == procGetwd {
		return xid, proc, nil, ok
	}
	args = decodeDict(opaque())
	return xid, proc, args, ok
}

func decodeDict(b []byte) map[string]string {
	d := map[string]string{}
	if len(b) < 4 {
		return d
	}
	n := binary.BigEndian.Uint32(b)
	off := 4
	for range n {
		if off+8 > len(b) {
			break
		}
		kl, vl := int(binary.BigEndian.Uint32(b[off:])), int(binary.BigEndian.Uint32(b[off+4:]))
		off += 8
		if kl+1+vl > len(b)-off {
			break
		}
		k := string(b[off : off+kl])
		v := strings.TrimSuffix(string(b[off+kl+1:off+kl+1+vl]), "\x00")
		off += kl + 1 + vl
		d[k] = v
	}
	return d
}

// answer is the procedure's results and the RPC accept status.
func (c *cluster) answer(proc uint32, args map[string]string) ([]byte, uint32) {
	switch proc {
	case procListVolume:
		return c.list, 0
	case procGetVolume:
		switch args["flags"] {
		case "2":
			if v, ok := c.volumes[args["volname"]]; ok {
				return v, 0
			}
			return cliRsp(-1, errnoNoVolume, "Volume does not exist", dict{{"count", "0"}}), 0
		case "3":
			next := 0
			if name := args["volname"]; name != "" {
				i, ok := c.index[name]
				if !ok {
					return cliRsp(0, 0, "", dict{{"count", "0"}}), 0
				}
				next = i + 1
			}
			if next >= len(c.names) {
				return cliRsp(0, 0, "", dict{{"count", "0"}}), 0
			}
			return c.volumes[c.names[next]], 0
		}
		return cliRsp(0, 0, "", dict{{"count", "0"}}), 0 // as glusterd 10.3 answers flags=1
	case procListFriends:
		return c.peers, 0
	case procUUIDGet:
		return c.uuid, 0
	case procGetVolOpt:
		return c.opVer, 0
	case procGetwd:
		return c.getwd, 0
	case procGetState:
		path := filepath.Join(args["odir"], args["filename"])
		if err := os.WriteFile(path, c.state, 0o600); err != nil {
			return cliRsp(-1, 0, err.Error(), nil), 0
		}
		return cliRsp(0, 0, "", dict{{"ofilepath", path}}), 0
	}
	return nil, 3 // procedure unavailable
}

func (c *cluster) serveStats(l net.Listener) {
	for {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		c.mu.Lock()
		calls := map[string]int64{}
		for p, n := range c.calls {
			calls[strconv.Itoa(int(p))] = n
		}
		c.mu.Unlock()
		json.NewEncoder(conn).Encode(map[string]any{"calls": calls, "connections": c.conns.Load()})
		conn.Close()
	}
}
