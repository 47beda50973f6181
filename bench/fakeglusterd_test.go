package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/bench/xmlgen"
	"github.com/glusterbus/glusterbus/internal/exporter"
	glustercli "github.com/glusterbus/glusterbus/internal/gluster"
	"github.com/glusterbus/glusterbus/internal/glusterd"
)

// fakeBins returns a directory holding the fakegluster and fakeglusterd
// binaries: GLUSTERBUS_BENCH_BIN's, or built now.
func fakeBins(t testing.TB) string {
	t.Helper()
	if dir := os.Getenv("GLUSTERBUS_BENCH_BIN"); dir != "" {
		return dir
	}
	dir := t.TempDir()
	for _, cmd := range []string{"fakegluster", "fakeglusterd"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, cmd), "./"+cmd).CombinedOutput()
		if err != nil {
			t.Fatalf("go build %s: %v\n%s", cmd, err, out)
		}
	}
	return dir
}

// fakeGlusterd is a running bench/fakeglusterd and the fakegluster
// directory it answers for.
type fakeGlusterd struct {
	dir, socket, stats string
}

// startFakeGlusterd generates n volumes with fakegluster and serves them
// with fakeglusterd until the test ends.
func startFakeGlusterd(t testing.TB, bin string, n int) *fakeGlusterd {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command(filepath.Join(bin, "fakegluster"), "gen", "-n", fmt.Sprint(n),
		"-testdata", testdata, "-out", dir).CombinedOutput(); err != nil {
		t.Fatalf("fakegluster gen: %v\n%s", err, out)
	}
	f := &fakeGlusterd{dir: dir, socket: filepath.Join(dir, "gd.sock"), stats: filepath.Join(dir, "stats.sock")}
	cmd := exec.Command(filepath.Join(bin, "fakeglusterd"), "-dir", dir, "-socket", f.socket, "-stats", f.stats)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	for deadline := time.Now().Add(time.Minute); ; {
		if conn, err := net.Dial("unix", f.stats); err == nil {
			conn.Close()
			return f
		}
		if time.Now().After(deadline) {
			t.Fatal("fakeglusterd did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// calls returns the calls fakeglusterd answered, by procedure number, and
// the connections it took.
func (f *fakeGlusterd) calls(t testing.TB) (map[string]int64, int64) {
	t.Helper()
	conn, err := net.Dial("unix", f.stats)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var st struct {
		Calls       map[string]int64
		Connections int64
	}
	if err := json.NewDecoder(bufio.NewReader(conn)).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st.Calls, st.Connections
}

// TestFakeGlusterdScale checks the fake glusterd against the real client:
// GLUSTERBUS_BENCH_VOLUMES (5 000) volumes read over its socket are the
// volumes the gluster CLI parser reads from fakegluster's XML of the same
// cluster, with one LIST_VOLUME and one GET_VOLUME per volume on one
// connection; peers, identity and this node's state agree too.
func TestFakeGlusterdScale(t *testing.T) {
	n := envInt("GLUSTERBUS_BENCH_VOLUMES", 5000)
	bin := fakeBins(t)
	f := startFakeGlusterd(t, bin, n)
	ctx := context.Background()
	rpc := &glusterd.Client{Socket: f.socket, Timeout: time.Minute}
	defer rpc.Close()
	cli := &glustercli.CLI{Command: []string{filepath.Join(bin, "fakegluster"), "-dir", f.dir}, Timeout: time.Minute}

	fromCLI, err := cli.VolumeInfo(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	fromRPC, err := rpc.VolumeInfo(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(fromRPC) != n || !reflect.DeepEqual(fromCLI, fromRPC) {
		t.Fatalf("%d volumes over the socket, %d by the CLI; first: socket %+v, CLI %+v", len(fromRPC), len(fromCLI), fromRPC[0], fromCLI[0])
	}
	calls, conns := f.calls(t)
	if calls["33"] != 1 || calls["5"] != int64(n) || conns != 1 {
		t.Errorf("one full read made calls %v on %d connections, want one list and %d volumes on one", calls, conns, n)
	}
	one, err := rpc.VolumeInfo(ctx, xmlgen.Name(n/2))
	if err != nil || !reflect.DeepEqual(one[0], fromCLI[n/2]) {
		t.Errorf("one volume: %+v, %v", one, err)
	}

	for what, pair := range map[string][2]func() (any, error){
		"peers":      {func() (any, error) { return cli.Peers(ctx) }, func() (any, error) { return rpc.Peers(ctx) }},
		"uuid":       {func() (any, error) { return cli.LocalUUID(ctx) }, func() (any, error) { return rpc.LocalUUID(ctx) }},
		"op-version": {func() (any, error) { return cli.OpVersion(ctx) }, func() (any, error) { return rpc.OpVersion(ctx) }},
		"workdir":    {func() (any, error) { return cli.Workdir(ctx) }, func() (any, error) { return rpc.Workdir(ctx) }},
	} {
		a, errA := pair[0]()
		b, errB := pair[1]()
		if errA != nil || errB != nil || !reflect.DeepEqual(a, b) {
			t.Errorf("%s: CLI %v (%v), socket %v (%v)", what, a, errA, b, errB)
		}
	}

	st, err := rpc.LocalState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	self, _ := rpc.LocalUUID(ctx)
	status, err := cli.VolumeStatusDetail(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	local := map[string]glustercli.BrickStatus{}
	for _, b := range status {
		if b.HostUUID == self {
			local[b.Host+":"+b.Path] = b
		}
	}
	if st.UUID != self || len(st.Volumes) != n || len(st.Bricks) != len(local) || len(local) != n {
		t.Fatalf("get-state: uuid %s, %d volumes, %d bricks; want %s, %d, %d", st.UUID, len(st.Volumes), len(st.Bricks), self, n, len(local))
	}
	for _, b := range st.Bricks {
		want := local[b.Host+":"+b.Path]
		if !b.Online || b.Port != want.Port || b.SizeTotal != want.SizeTotal || b.SizeFree != want.SizeFree || b.Volume == "" {
			t.Fatalf("get-state brick %+v, volume status %+v", b, want)
		}
	}
}

// BenchmarkDaemonReloadSocket runs the daemon in this process against
// bench/fakeglusterd with GLUSTERBUS_BENCH_VOLUMES volumes, reading
// glusterd over the socket as it does by default (fakegluster answers
// `gluster --version`), and times full refreshes (Reload) from a client.
// It reports the first full read too. Run it with -cpuprofile or
// -memprofile to see where the daemon's own time and memory go.
func BenchmarkDaemonReloadSocket(b *testing.B) {
	n := envInt("GLUSTERBUS_BENCH_VOLUMES", 5000)
	bin := fakeBins(b)
	f := startFakeGlusterd(b, bin, n)
	began := time.Now()
	conn := runBenchDaemon(b, []string{filepath.Join(bin, "fakegluster"), "-dir", f.dir}, f.socket, filepath.Join(f.dir, "workdir"))
	firstRead := time.Since(began)
	opts := map[string]dbus.Variant{}
	cpu0 := processCPU()
	for b.Loop() {
		call(b, conn, exporter.ManagerPath, managerIface+".Reload", opts)
	}
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
	b.ReportMetric(float64(firstRead)/1e6, "first-read-ms")
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	b.ReportMetric(float64(m.HeapAlloc)/1e6, "live-heap-MB")
	writeHeapProfile(b)
}

// processCPU is the user and system time of this process.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestFakeGlusterdServe measures `glusterbus serve` against bench/fakeglusterd
// with GLUSTERBUS_BENCH_VOLUMES (5 000) volumes of 3 bricks, all started,
// glusterd read over its socket as by default, against the 5 000-volume
// budgets (bench/fakeglusterd.sh).
func TestFakeGlusterdServe(t *testing.T) {
	e := benchEnv(t)
	n := envInt("GLUSTERBUS_BENCH_VOLUMES", 5000)
	f := startFakeGlusterd(t, e.bin, n)
	r := newReport(e, "fakeglusterd")
	measureScale(t, e, r, scale{
		label:     fmt.Sprintf("fakeglusterd, %d volumes x 3 bricks", n),
		gluster:   filepath.Join(e.bin, "fakegluster") + " -dir " + f.dir,
		workdir:   filepath.Join(f.dir, "workdir"),
		volume:    xmlgen.Name(n / 2),
		volumes:   n,
		serveArgs: []string{"--glusterd-socket", f.socket},
		atScale:   true,
		fullReads: func() int {
			calls, _ := f.calls(t)
			return int(calls["33"])
		},
	})
	calls, conns := f.calls(t)
	r.printf("\nCalls fakeglusterd answered over the whole test, by procedure: %v, on %d connections.\n", calls, conns)
	r.write(t)
}
