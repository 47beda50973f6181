// Package bench measures glusterbus end to end: propagation latency on a
// real loopback GlusterFS cluster, and the cost of full refreshes, memory
// and idle CPU on a real cluster of 300 volumes and with bench/fakegluster
// at 5 000 volumes. bench/run.sh runs it and writes docs/benchmarks.md.
//
// The tests run only when GLUSTERBUS_BENCH_BIN names a directory holding
// the glusterbus, fakegluster and clitime binaries and GLUSTERBUS_BENCH_OUT
// a directory for the results; the real-cluster test needs root, glusterd
// and dbus-daemon.
package bench

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/exporter"
	"github.com/glusterbus/glusterbus/internal/testbus"
)

const (
	managerIface = exporter.ManagerInterface
	omIface      = "org.freedesktop.DBus.ObjectManager"
)

// env is what the run was given.
type env struct {
	bin, out string
}

func benchEnv(t testing.TB) env {
	t.Helper()
	e := env{bin: os.Getenv("GLUSTERBUS_BENCH_BIN"), out: os.Getenv("GLUSTERBUS_BENCH_OUT")}
	if e.bin == "" || e.out == "" {
		t.Skip("GLUSTERBUS_BENCH_BIN and GLUSTERBUS_BENCH_OUT are not set (bench/run.sh sets them)")
	}
	return e
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil && d > 0 {
		return d
	}
	return def
}

// report collects one section of results: markdown for the document and
// rows of the targets table.
type report struct {
	e    env
	name string
	md   strings.Builder
	rows []string
}

func newReport(e env, name string) *report { return &report{e: e, name: name} }

func (r *report) printf(format string, args ...any) {
	fmt.Fprintf(&r.md, format, args...)
}

// target adds a row to the targets table.
func (r *report) target(what, measured, limit string, met bool) {
	verdict := "not met"
	if met {
		verdict = "met"
	}
	r.verdict(what, measured, limit, verdict)
}

// verdict adds a row to the Targets table with a verdict of its own, for a
// target the run could not judge.
func (r *report) verdict(what, measured, limit, verdict string) {
	r.rows = append(r.rows, fmt.Sprintf("| %s | %s | %s | **%s** |", what, measured, limit, verdict))
}

// write stores the section as OUT/<name>.md and its targets as
// OUT/<name>.targets, and shows both in the test log.
func (r *report) write(t testing.TB) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(r.e.out, r.name+".md"), []byte(r.md.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	rows := strings.Join(r.rows, "\n")
	if rows != "" {
		rows += "\n"
	}
	if err := os.WriteFile(filepath.Join(r.e.out, r.name+".targets"), []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s\n%s", r.md.String(), rows)
}

// ms formats a duration in milliseconds.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f ms", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.2f ms", v)
}

// percentile is the nearest-rank percentile of the values (p in 0..100).
func percentile[T cmp.Ordered](ds []T, p float64) T {
	if len(ds) == 0 {
		var zero T
		return zero
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

func median[T cmp.Ordered](ds []T) T { return percentile(ds, 50) }

// daemon is a running `glusterbus serve`.
type serveProc struct {
	cmd     *exec.Cmd
	pid     int
	started time.Time
	ready   time.Time // when it owned its bus name
	logPath string
	done    chan error
}

// startDaemon runs glusterbus serve on the bus with the gluster command
// prefix and waits until it owns its name.
func startDaemon(t testing.TB, e env, busAddr, gluster, workdir string, extra ...string) *serveProc {
	t.Helper()
	dir := t.TempDir()
	d := &serveProc{logPath: filepath.Join(dir, "serve.log"), done: make(chan error, 1)}
	args := append([]string{"serve", "--bus", busAddr, "--gluster", gluster,
		"--glusterd-workdir", workdir, "--state-dir", filepath.Join(dir, "state"),
		"--config", filepath.Join(dir, "none.conf"), "--no-events"}, extra...)
	d.cmd = exec.Command(filepath.Join(e.bin, "glusterbus"), args...)
	d.cmd.Env = append(os.Environ(), "RUNTIME_DIRECTORY="+runtimeDirectory(t))
	logf, err := os.Create(d.logPath)
	if err != nil {
		t.Fatal(err)
	}
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	client, err := dbus.Connect(busAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	d.started = time.Now()
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logf.Close()
	d.pid = d.cmd.Process.Pid
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() { d.stop(t) })
	deadline := time.Now().Add(5 * time.Minute)
	for {
		var owner string
		if client.BusObject().Call("org.freedesktop.DBus.GetNameOwner", 0, exporter.BusName).Store(&owner) == nil {
			d.ready = time.Now()
			return d
		}
		select {
		case err := <-d.done:
			t.Fatalf("glusterbus serve exited: %v\n%s", err, d.log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("glusterbus serve did not take its name\n%s", d.log())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// runtimeDirectory is where the daemon has glusterd write its get-state
// dumps, as under the systemd unit: a runtime directory in memory (the
// unit's is in /run), here one in /dev/shm where there is one. On a disk
// file system, removing a dump of thousands of volumes can cost more than
// reading it.
func runtimeDirectory(t testing.TB) string {
	dir, err := os.MkdirTemp("/dev/shm", "glusterbus-bench-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func (d *serveProc) log() string {
	b, _ := os.ReadFile(d.logPath)
	return string(b)
}

// stop ends the daemon with SIGTERM (SIGKILL after 20 s); it may be called
// more than once.
func (d *serveProc) stop(t testing.TB) {
	if d.cmd == nil || d.cmd.ProcessState != nil {
		return
	}
	select {
	case err := <-d.done:
		d.done <- err
		return
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		d.done <- err
	case <-time.After(20 * time.Second):
		t.Logf("glusterbus serve did not stop on SIGTERM; killing it")
		_ = d.cmd.Process.Kill()
		d.done <- <-d.done
	}
}

// procStat is what /proc says of a process.
type procStat struct {
	cpu, childCPU time.Duration // utime+stime; cutime+cstime of waited-for children
	rss, hwm      int64         // bytes
}

// readProc reads /proc/<pid>/stat and status. Times are in USER_HZ, which
// is 100 on Linux.
func readProc(t testing.TB, pid int) procStat {
	t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
	// After the command: state(0) ... utime(11) stime(12) cutime(13) cstime(14).
	tick := func(i int) time.Duration {
		n, _ := strconv.ParseInt(f[i], 10, 64)
		return time.Duration(n) * 10 * time.Millisecond
	}
	ps := procStat{cpu: tick(11) + tick(12), childCPU: tick(13) + tick(14)}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			ps.rss = kb << 10
		case "VmHWM":
			ps.hwm = kb << 10
		}
	}
	return ps
}

// loadavg is the first three fields of /proc/loadavg: other work on the
// machine shows there.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// wrapperOverhead is the median extra time clitime adds to one command:
// `clitime LOG true` against `true`, run from here as the daemon runs the
// CLI.
func wrapperOverhead(t testing.TB, e env) time.Duration {
	t.Helper()
	truePath, err := exec.LookPath("true")
	if err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(t.TempDir(), "overhead.log")
	run := func(argv ...string) time.Duration {
		start := time.Now()
		if err := exec.Command(argv[0], argv[1:]...).Run(); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	var bare, wrapped []time.Duration
	for range 30 {
		bare = append(bare, run(truePath))
		wrapped = append(wrapped, run(filepath.Join(e.bin, "clitime"), log, truePath))
	}
	return median(wrapped) - median(bare)
}

func mb(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/1e6) }

// cliCall is one line of a clitime log.
type cliCall struct {
	start time.Time
	dur   time.Duration
	exit  int
	args  string
}

func (c cliCall) end() time.Time { return c.start.Add(c.dur) }

func readCLILog(t testing.TB, path string) []cliCall {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []cliCall
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.SplitN(line, " ", 4)
		if len(f) < 4 {
			continue
		}
		start, _ := strconv.ParseInt(f[0], 10, 64)
		dur, _ := strconv.ParseInt(f[1], 10, 64)
		exit, _ := strconv.Atoi(f[2])
		out = append(out, cliCall{time.Unix(0, start), time.Duration(dur), exit, f[3]})
	}
	return out
}

// cliWithin returns the calls that started and ended within [from, to], and
// how long at least one of them ran: calls that ran at the same time (a
// full read runs some side by side) count once, so that the own time
// (wall − CLI) is the time no gluster process was running.
func cliWithin(calls []cliCall, from, to time.Time) ([]cliCall, time.Duration) {
	var in []cliCall
	for _, c := range calls {
		if !c.start.Before(from) && !c.end().After(to) {
			in = append(in, c)
		}
	}
	byStart := slices.SortedFunc(slices.Values(in), func(a, b cliCall) int { return a.start.Compare(b.start) })
	var union time.Duration
	var until time.Time // the end of the calls counted so far
	for _, c := range byStart {
		if c.end().After(until) {
			union += c.end().Sub(later(c.start, until))
			until = c.end()
		}
	}
	return in, union
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// signals records every signal the daemon sends, with its arrival time.
type signals struct {
	mu   sync.Mutex
	list []arrived
	cond *sync.Cond
}

type arrived struct {
	at  time.Time
	sig *dbus.Signal
}

func watchSignals(t testing.TB, conn *dbus.Conn) *signals {
	t.Helper()
	s := &signals{}
	s.cond = sync.NewCond(&s.mu)
	if err := conn.AddMatchSignal(dbus.WithMatchSender(exporter.BusName)); err != nil {
		t.Fatal(err)
	}
	ch := make(chan *dbus.Signal, 1<<16)
	conn.Signal(ch)
	go func() {
		for sig := range ch {
			now := time.Now()
			s.mu.Lock()
			s.list = append(s.list, arrived{now, sig})
			s.cond.Broadcast()
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *signals) mark() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.list)
}

// waitFor returns the arrival time of the first signal after index from
// that matches, or false after timeout.
func (s *signals) waitFor(from int, timeout time.Duration, match func(*dbus.Signal) bool) (time.Time, bool) {
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer timer.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := from; ; {
		for ; i < len(s.list); i++ {
			if match(s.list[i].sig) {
				return s.list[i].at, true
			}
		}
		if time.Now().After(deadline) {
			return time.Time{}, false
		}
		s.cond.Wait()
	}
}

// call makes a method call on the daemon and returns how long it took.
func call(t testing.TB, conn *dbus.Conn, path dbus.ObjectPath, method string, args ...any) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	c := conn.Object(exporter.BusName, path).CallWithContext(ctx, method, 0, args...)
	d := time.Since(start)
	if c.Err != nil {
		t.Fatalf("%s: %v", method, c.Err)
	}
	return d
}

// managedObjects calls GetManagedObjects and returns its time and the
// number of objects.
// rawManagedObjects times n GetManagedObjects calls from a client that
// reads each reply whole without decoding it, and returns the reply's size.
func rawManagedObjects(t testing.TB, addr string, n int) ([]time.Duration, int) {
	t.Helper()
	client, err := testbus.DialRaw(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	var took []time.Duration
	size := 0
	for range n {
		start := time.Now()
		size, err = client.Call(exporter.BusName, string(exporter.RootPath), omIface, "GetManagedObjects")
		took = append(took, time.Since(start))
		if err != nil {
			t.Fatal(err)
		}
	}
	return took, size
}

func managedObjects(t testing.TB, conn *dbus.Conn) (time.Duration, int) {
	t.Helper()
	var out map[dbus.ObjectPath]map[string]map[string]dbus.Variant
	start := time.Now()
	err := conn.Object(exporter.BusName, exporter.RootPath).Call(omIface+".GetManagedObjects", 0).Store(&out)
	d := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	return d, len(out)
}

// Calls that ran side by side count once in the CLI time; calls outside the
// window not at all.
func TestCLIWithinCountsOverlapOnce(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	call := func(start, dur int) cliCall {
		return cliCall{start: at(start), dur: time.Duration(dur) * time.Millisecond}
	}
	calls := []cliCall{call(20, 10), call(0, 10), call(5, 10), call(8, 2), call(40, 5), call(95, 10)}
	in, cli := cliWithin(calls, at(0), at(100))
	if len(in) != 5 || cli != 30*time.Millisecond {
		t.Fatalf("%d calls, %v; want 5 calls, 30ms", len(in), cli)
	}
}
