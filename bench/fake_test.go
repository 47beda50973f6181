package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/bench/xmlgen"
	"github.com/glusterbus/glusterbus/internal/daemon"
	"github.com/glusterbus/glusterbus/internal/exporter"
	"github.com/glusterbus/glusterbus/internal/testbus"
)

const testdata = "../internal/gluster/testdata"

// genFake writes the fake gluster's outputs for n volumes into a temporary
// directory and returns it.
func genFake(t testing.TB, e env, n int) (dir, summary string, took time.Duration) {
	t.Helper()
	dir = t.TempDir()
	start := time.Now()
	out, err := exec.Command(filepath.Join(e.bin, "fakegluster"), "gen", "-n", fmt.Sprint(n),
		"-testdata", testdata, "-out", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("fakegluster gen: %v\n%s", err, out)
	}
	return dir, strings.TrimSpace(string(out)), time.Since(start)
}

// TestFakeScale measures the daemon against bench/fakegluster with
// GLUSTERBUS_BENCH_VOLUMES (5 000) volumes of 3 bricks, all started.
func TestFakeScale(t *testing.T) {
	e := benchEnv(t)
	n := envInt("GLUSTERBUS_BENCH_VOLUMES", 5000)
	dir, summary, took := genFake(t, e, n)
	r := newReport(e, "fake")
	r.printf("Generated at bench time in %s: %s.\n", ms(took), summary)
	measureScale(t, e, r, scale{
		label:   fmt.Sprintf("fakegluster, %d volumes x 3 bricks", n),
		gluster: filepath.Join(e.bin, "fakegluster") + " -dir " + dir,
		workdir: filepath.Join(dir, "workdir"),
		volume:  xmlgen.Name(n / 2),
		volumes: n,
		atScale: n >= 5000,
		// The fake answers for a glusterd that does not exist: a real one
		// on this machine must not be read instead.
		serveArgs: []string{"--glusterd-socket", ""},
	})
	r.write(t)
}

// BenchmarkDaemonReload runs the daemon in this process against
// bench/fakegluster with GLUSTERBUS_BENCH_VOLUMES volumes and times full
// refreshes (Reload) from a client; run it with -cpuprofile to see where
// the daemon's own time goes.
func BenchmarkDaemonReload(b *testing.B) {
	e := benchEnv(b)
	n := envInt("GLUSTERBUS_BENCH_VOLUMES", 5000)
	dir, _, _ := genFake(b, e, n)
	conn := runBenchDaemon(b, []string{filepath.Join(e.bin, "fakegluster"), "-dir", dir}, "", filepath.Join(dir, "workdir"))
	opts := map[string]dbus.Variant{}
	for b.Loop() {
		call(b, conn, exporter.ManagerPath, managerIface+".Reload", opts)
	}
	// What the daemon (and this process's bus client, which holds nothing
	// here) keeps alive after the refreshes.
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	b.ReportMetric(float64(m.HeapAlloc)/1e6, "live-heap-MB")
	b.ReportMetric(float64(m.HeapSys)/1e6, "heap-sys-MB")
	writeHeapProfile(b)
}

// runBenchDaemon runs the daemon in this process on a private bus with the
// benchmarks' settings, reading gluster with cli (and glusterd's socket,
// if any), and returns a client connection once it holds its name; both
// stop when the benchmark ends.
func runBenchDaemon(b *testing.B, cli []string, socket, workdir string) *dbus.Conn {
	addr := testbus.Start(b)
	b.Setenv("RUNTIME_DIRECTORY", runtimeDirectory(b))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Config{
			Bus:             addr,
			Gluster:         cli,
			GlusterdSocket:  socket,
			GlusterdWorkdir: workdir,
			StateDir:        b.TempDir(),
			Interval:        time.Hour,
			QuietPeriod:     2 * time.Second,
			CLITimeout:      time.Minute,
			EventsPort:      -1,
			Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
	}()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	})
	conn, err := dbus.Connect(addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	for deadline := time.Now().Add(5 * time.Minute); ; {
		var owner string
		if conn.BusObject().Call("org.freedesktop.DBus.GetNameOwner", 0, exporter.BusName).Store(&owner) == nil {
			return conn
		}
		if time.Now().After(deadline) {
			b.Fatal("the daemon did not take its name")
		}
		time.Sleep(time.Millisecond)
	}
}

// writeHeapProfile writes a heap profile to GLUSTERBUS_BENCH_HEAPPROFILE,
// if set.
func writeHeapProfile(b *testing.B) {
	path := os.Getenv("GLUSTERBUS_BENCH_HEAPPROFILE")
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		b.Fatal(err)
	}
}
