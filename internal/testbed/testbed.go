// Package testbed runs a real GlusterFS cluster of several glusterd nodes on
// loopback addresses, for integration tests.
//
// Every node is its own glusterd process with its own working, run and log
// directories, its own CLI socket and its own address 127.1.<net>.<i>. The
// <net> octet is reserved for the life of the cluster by an exclusive flock on
// /tmp/glusterbus-testbed/net-<net>.lock, so clusters of test binaries that
// run side by side never meet. Everything needs root.
package testbed

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// LockDir holds the net-<net>.lock files and the clusters' directories.
const LockDir = "/tmp/glusterbus-testbed"

// RequireEnv, when set to "1", turns a missing GlusterFS into a test failure
// instead of a skip (CI sets it).
const RequireEnv = "GLUSTERBUS_REQUIRE_INTEGRATION"

const (
	startTimeout   = 60 * time.Second
	commandTimeout = 2 * time.Minute
	stopTimeout    = 10 * time.Second
	pollInterval   = 100 * time.Millisecond
)

// Cluster is a set of glusterd nodes on loopback that all know each other.
// It is not safe for concurrent use.
type Cluster struct {
	Dir   string // the cluster's own directory; removed on cleanup
	Net   int    // the third octet of the nodes' addresses
	Nodes []*Node

	lock *os.File
}

// Node is one glusterd of a Cluster.
type Node struct {
	Index   int    // 1-based
	Addr    string // 127.1.<net>.<index>
	Dir     string // the node's root directory
	Workdir string // glusterd's working directory (/var/lib/glusterd of a real node)
	RunDir  string // pid files of the node's daemons
	LogDir  string // glusterd's, the CLI's and the bricks' logs
	Socket  string // the CLI socket
	PidFile string // glusterd's pid file

	cluster *Cluster
}

// Available reports whether integration tests can run here: nil when the
// glusterd and gluster binaries are found and the process is root.
func Available() error {
	for _, bin := range []string{"glusterd", "gluster"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("testbed: %s not found (install glusterfs-server): %w", bin, err)
		}
	}
	if os.Geteuid() != 0 {
		return errors.New("testbed: glusterd needs root")
	}
	return nil
}

// Require skips the test when Available fails, or fails it when the
// environment variable GLUSTERBUS_REQUIRE_INTEGRATION is "1".
func Require(t testing.TB) {
	t.Helper()
	if err := Available(); err != nil {
		Missing(t, "%v", err)
	}
}

// Missing ends a test for want of something it needs from the machine: a
// skip, or a failure where RequireEnv is "1" (CI), so that nothing is
// silently left untested there.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf(format+" (%s=1)", append(args, RequireEnv)...)
	}
	t.Skipf(format, args...)
}

// Start starts a cluster of the given number of nodes, probes every other
// node from node 1 and waits until all nodes see all others as connected
// peers in the cluster. A cleanup registered on t stops every daemon of the
// cluster and removes its directories.
func Start(t testing.TB, nodes int) *Cluster {
	t.Helper()
	Require(t)
	if nodes < 1 || nodes > 250 {
		t.Fatalf("testbed: %d nodes: want 1..250", nodes)
	}
	c, err := newCluster(nodes)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.stop)
	for _, n := range c.Nodes {
		if err := n.start(); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range c.Nodes[1:] {
		if _, err := c.Nodes[0].RunGluster("peer", "probe", n.Addr); err != nil {
			t.Fatalf("testbed: %v\n%s%s", err, c.Nodes[0].logTail(), n.logTail())
		}
	}
	if err := c.waitPeers(c.Nodes); err != nil {
		t.Fatal(err)
	}
	return c
}

// newCluster reserves a free <net> and lays out the nodes' directories.
func newCluster(nodes int) (*Cluster, error) {
	if err := os.MkdirAll(LockDir, 0o755); err != nil {
		return nil, fmt.Errorf("testbed: %w", err)
	}
	c := &Cluster{}
	for n := 1; n <= 250 && c.lock == nil; n++ {
		f, err := os.OpenFile(filepath.Join(LockDir, fmt.Sprintf("net-%d.lock", n)), os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("testbed: %w", err)
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			f.Close()
			continue
		}
		// A glusterd left behind by a killed test binary would still hold
		// the addresses: skip such a net.
		if !addrsFree(n, nodes) {
			f.Close()
			continue
		}
		c.Net, c.lock = n, f
	}
	if c.lock == nil {
		return nil, errors.New("testbed: no free 127.1.<net>.x range (all of 1..250 locked or in use)")
	}
	dir, err := os.MkdirTemp(LockDir, fmt.Sprintf("c%d-", c.Net))
	if err != nil {
		c.lock.Close()
		return nil, fmt.Errorf("testbed: %w", err)
	}
	c.Dir = dir
	for i := 1; i <= nodes; i++ {
		nd := filepath.Join(dir, fmt.Sprintf("n%d", i))
		n := &Node{
			Index:   i,
			Addr:    fmt.Sprintf("127.1.%d.%d", c.Net, i),
			Dir:     nd,
			Workdir: filepath.Join(nd, "glusterd"),
			RunDir:  filepath.Join(nd, "run"),
			LogDir:  filepath.Join(nd, "log"),
			PidFile: filepath.Join(nd, "glusterd.pid"),
			cluster: c,
		}
		n.Socket = filepath.Join(n.Workdir, "gd.sock")
		for _, d := range []string{n.Workdir, n.RunDir, n.LogDir, filepath.Join(nd, "bricks")} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				c.stop()
				return nil, fmt.Errorf("testbed: %w", err)
			}
		}
		c.Nodes = append(c.Nodes, n)
	}
	return c, nil
}

// addrsFree reports whether glusterd's port 24007 can be bound on every
// address of the net.
func addrsFree(net_, nodes int) bool {
	for i := 1; i <= nodes; i++ {
		l, err := net.Listen("tcp", fmt.Sprintf("127.1.%d.%d:24007", net_, i))
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}

// CLI is the gluster command prefix that talks to this node.
func (n *Node) CLI() []string {
	return []string{"gluster", "--glusterd-sock=" + n.Socket,
		"--log-file=" + filepath.Join(n.LogDir, "cli.log"), "--mode=script"}
}

// RunGluster runs a gluster command on this node and returns its standard
// output; the error, if any, includes the exit status and standard error.
func (n *Node) RunGluster(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	argv := append(n.CLI(), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String(), fmt.Errorf("node %d: gluster %s: %w\nstdout: %s\nstderr: %s",
			n.Index, strings.Join(args, " "), err, strings.TrimSpace(stdout.String()), strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// Gluster runs a gluster command on this node, fails the test if it fails and
// returns its standard output. A command refused because another transaction
// holds the volume's lock is run again, as an admin would: a daemon under test
// that reads every node's bricks with `volume status` may hold it, as it says
// it may. Tests of lock freedom use RunGluster, which never tries again.
func (n *Node) Gluster(t testing.TB, args ...string) string {
	t.Helper()
	out, err := n.RunGluster(args...)
	for try := 1; err != nil && lockRefused(err) && try < lockRetries; try++ {
		time.Sleep(500 * time.Millisecond)
		out, err = n.RunGluster(args...)
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// lockRetries bounds the runs of a command glusterd refuses for its lock.
const lockRetries = 20

// lockRefused tells glusterd's refusals for a lock held elsewhere: nothing
// was done, so running the command again is safe.
func lockRefused(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "Another transaction") || strings.Contains(msg, "Locking failed on")
}

// GlusterdPID returns the pid of this node's running glusterd, or fails the
// test: never 0 or another process, which a signal would reach instead
// (kill(0, SIGSTOP) stops the test's whole process group).
func (n *Node) GlusterdPID(t testing.TB) int {
	t.Helper()
	pid := readPid(n.PidFile)
	if pid <= 0 {
		t.Fatalf("testbed: node %d: no glusterd pid in %s", n.Index, n.PidFile)
	}
	if !n.cluster.owns(pid) {
		t.Fatalf("testbed: node %d: glusterd pid %d is not running", n.Index, pid)
	}
	return pid
}

// StopGlusterd stops this node's glusterd (its bricks keep running).
func (n *Node) StopGlusterd(t testing.TB) {
	t.Helper()
	pid := n.GlusterdPID(t)
	if err := terminate(pid); err != nil {
		t.Fatalf("testbed: node %d: %v", n.Index, err)
	}
	os.Remove(n.PidFile)
}

// StartGlusterd starts this node's glusterd again with the same options and
// waits until it is connected to every other running node of the cluster.
func (n *Node) StartGlusterd(t testing.TB) {
	t.Helper()
	if err := n.start(); err != nil {
		t.Fatal(err)
	}
	var running []*Node
	for _, o := range n.cluster.Nodes {
		if o.cluster.owns(readPid(o.PidFile)) {
			running = append(running, o)
		}
	}
	if len(running) == len(n.cluster.Nodes) {
		if err := n.cluster.waitPeers(running); err != nil {
			t.Fatal(err)
		}
	}
}

// start starts glusterd and waits until its socket accepts connections.
func (n *Node) start() error {
	os.Remove(n.Socket) // a stale socket of a killed glusterd
	cmd := exec.Command("glusterd",
		"--xlator-option", "management.working-directory="+n.Workdir,
		"--xlator-option", "management.transport.socket.bind-address="+n.Addr,
		"--xlator-option", "management.run-directory="+n.RunDir,
		"--xlator-option", "management.glusterd-sockfile="+n.Socket,
		"--xlator-option", "management.cluster-test-mode="+n.LogDir,
		"--log-file="+filepath.Join(n.LogDir, "glusterd.log"),
		"--pid-file="+n.PidFile)
	out, err := os.Create(filepath.Join(n.LogDir, "glusterd.out"))
	if err != nil {
		return fmt.Errorf("testbed: %w", err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("testbed: node %d: glusterd: %w\n%s", n.Index, err, n.logTail())
	}
	deadline := time.Now().Add(startTimeout)
	for {
		conn, err := net.Dial("unix", n.Socket)
		if err == nil {
			conn.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testbed: node %d: glusterd socket %s not ready after %v: %v\n%s",
				n.Index, n.Socket, startTimeout, err, n.logTail())
		}
		time.Sleep(pollInterval)
	}
}

// logTail is the end of the node's glusterd output and log, for errors.
func (n *Node) logTail() string {
	var b strings.Builder
	for _, name := range []string{"glusterd.out", "glusterd.log"} {
		data, err := os.ReadFile(filepath.Join(n.LogDir, name))
		if err != nil || len(bytes.TrimSpace(data)) == 0 {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > 30 {
			lines = lines[len(lines)-30:]
		}
		fmt.Fprintf(&b, "--- tail of %s:\n%s\n", filepath.Join(n.LogDir, name), strings.Join(lines, "\n"))
	}
	return b.String()
}

// peerStatus is the part of `peer status --xml` the testbed needs.
type peerStatus struct {
	OpRet int `xml:"opRet"`
	Peers []struct {
		Hostname  string `xml:"hostname"`
		Connected int    `xml:"connected"`
		StateStr  string `xml:"stateStr"`
	} `xml:"peerStatus>peer"`
}

// waitPeers waits until each of nodes sees all other nodes of the cluster as
// connected peers in the cluster.
func (c *Cluster) waitPeers(nodes []*Node) error {
	deadline := time.Now().Add(startTimeout)
	for {
		var problem string
		var bad *Node
		for _, n := range nodes {
			if problem = n.peerProblem(len(c.Nodes) - 1); problem != "" {
				bad = n
				break
			}
		}
		if problem == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testbed: peers not ready after %v: %s\n%s", startTimeout, problem, bad.logTail())
		}
		time.Sleep(pollInterval)
	}
}

// peerProblem describes why the node does not yet see want good peers, or
// returns "".
func (n *Node) peerProblem(want int) string {
	out, err := n.RunGluster("peer", "status", "--xml")
	if err != nil {
		return err.Error()
	}
	var ps peerStatus
	if err := xml.Unmarshal([]byte(out), &ps); err != nil {
		return fmt.Sprintf("node %d: peer status: %v", n.Index, err)
	}
	if len(ps.Peers) != want {
		return fmt.Sprintf("node %d sees %d peers, want %d", n.Index, len(ps.Peers), want)
	}
	for _, p := range ps.Peers {
		if p.Connected != 1 || p.StateStr != "Peer in Cluster" {
			return fmt.Sprintf("node %d sees peer %s as %q (connected=%d)", n.Index, p.Hostname, p.StateStr, p.Connected)
		}
	}
	return ""
}

// BrickDir creates and returns a directory for a brick on the given node
// (1-based). Use a distinct name for every brick.
func (c *Cluster) BrickDir(node int, name string) string {
	d := filepath.Join(c.Nodes[node-1].Dir, "bricks", name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		panic(fmt.Sprintf("testbed: %v", err))
	}
	return d
}

// BrickPID waits for the pid file of a brick of volume on the given node
// (1-based) and returns the pid of the running brick process.
func (c *Cluster) BrickPID(t testing.TB, volume string, node int, path string) int {
	t.Helper()
	n := c.Nodes[node-1]
	// glusterd names the file <host>-<path without its leading "/" and with
	// every other "/" turned into "-">.pid.
	path = strings.TrimPrefix(filepath.Clean(path), "/")
	file := filepath.Join(n.RunDir, "vols", volume, n.Addr+"-"+strings.ReplaceAll(path, "/", "-")+".pid")
	deadline := time.Now().Add(startTimeout)
	for {
		if pid := readPid(file); pid > 0 && c.owns(pid) {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("testbed: no running brick in pid file %s after %v", file, startTimeout)
		}
		time.Sleep(pollInterval)
	}
}

// readPid returns the pid in a pid file, or 0.
func readPid(file string) int {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0
	}
	return pid
}

// owns reports whether pid is a live process of this cluster: its command
// line names the cluster's directory. This guards against pid reuse.
func (c *Cluster) owns(pid int) bool {
	if pid <= 0 {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// A zombie has exited already.
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && bytes.HasPrefix(stat[i+1:], []byte(" Z")) {
			return false
		}
	}
	return bytes.Contains(cmdline, []byte(c.Dir+"/"))
}

// terminate sends SIGTERM to pid, waits for it to exit, and sends SIGKILL if
// it does not exit in time.
func terminate(pid int) error {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return fmt.Errorf("kill %d: %w", pid, err)
	}
	if waitGone(pid, stopTimeout) {
		return nil
	}
	syscall.Kill(pid, syscall.SIGKILL)
	if waitGone(pid, stopTimeout) {
		return nil
	}
	return fmt.Errorf("pid %d still running after SIGKILL", pid)
}

// waitGone waits until pid no longer exists or is a zombie.
func waitGone(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return true
		}
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && bytes.HasPrefix(stat[i+1:], []byte(" Z")) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop stops every daemon of the cluster, removes its directories and
// releases its net.
func (c *Cluster) stop() {
	// glusterd first, so that none restarts a brick or daemon.
	for _, n := range c.Nodes {
		if pid := readPid(n.PidFile); c.owns(pid) {
			terminate(pid)
		}
	}
	// Then every daemon that left a pid file: bricks, self-heal, ...
	for _, n := range c.Nodes {
		filepath.WalkDir(n.RunDir, func(path string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(path, ".pid") {
				if pid := readPid(path); c.owns(pid) {
					terminate(pid)
				}
			}
			return nil
		})
	}
	// Last, anything of the cluster that left no pid file.
	for _, pid := range c.strays() {
		terminate(pid)
	}
	if c.Dir != "" {
		os.RemoveAll(c.Dir)
	}
	if c.lock != nil {
		c.lock.Close()
	}
}

// strays lists the live processes whose command line names the cluster's
// directory.
func (c *Cluster) strays() []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if c.owns(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// NobodyTools returns setpriv and gdbus, with which a test runs a bus
// client as the user nobody (setpriv --reuid=65534 ... gdbus call ...); it
// needs root, and fails through Missing without them.
func NobodyTools(t testing.TB) (setpriv, gdbus string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "needs root to run a bus client as nobody")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		Missing(t, "no setpriv: %v", err)
	}
	gdbus, err = exec.LookPath("gdbus")
	if err != nil {
		Missing(t, "no gdbus: %v", err)
	}
	return setpriv, gdbus
}
