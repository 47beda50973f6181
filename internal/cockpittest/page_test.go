package cockpittest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/daemon"
	"github.com/glusterbus/glusterbus/internal/exporter"
	"github.com/glusterbus/glusterbus/internal/install"
	"github.com/glusterbus/glusterbus/internal/testbed"
	"github.com/glusterbus/glusterbus/internal/testbus"
)

// ArtifactsEnv names a directory for the screenshots; without it they go
// to the system's temporary directory.
const ArtifactsEnv = "GLUSTERBUS_ARTIFACTS"

// Generous: the machine may be busy with other tests.
const (
	startTimeout  = 90 * time.Second
	changeTimeout = 60 * time.Second
)

// tools finds Chromium, cockpit-ws and cockpit-bridge, or ends the test
// (testbed.Missing).
func tools(t *testing.T) (chromium, ws string) {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			chromium = p
			break
		}
	}
	if chromium == "" {
		testbed.Missing(t, "no chromium (install the Debian package chromium)")
	}
	for _, p := range []string{"/usr/lib/cockpit/cockpit-ws", "/usr/libexec/cockpit-ws"} {
		if _, err := os.Stat(p); err == nil {
			ws = p
			break
		}
	}
	if ws == "" {
		testbed.Missing(t, "no cockpit-ws (install the Debian package cockpit-ws)")
	}
	if _, err := exec.LookPath("cockpit-bridge"); err != nil {
		testbed.Missing(t, "no cockpit-bridge (install the Debian package cockpit-bridge): %v", err)
	}
	return chromium, ws
}

// startDaemon runs the daemon against node 1 of c on the bus at addr and
// waits until it owns its name.
func startDaemon(t *testing.T, c *testbed.Cluster, addr string) {
	t.Helper()
	logOut := io.Writer(io.Discard)
	if testing.Verbose() {
		logOut = os.Stderr
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cfg := daemon.Config{
		Bus:               addr,
		Gluster:           c.Nodes[0].CLI(),
		GlusterdWorkdir:   c.Nodes[0].Workdir,
		StateDir:          t.TempDir(),
		Interval:          time.Second,
		QuietPeriod:       500 * time.Millisecond,
		RemoteBrickStatus: true, // the page shows every node's bricks
		CLITimeout:        20 * time.Second,
		EventsPort:        0,
		EventsAddrs:       []string{"127.0.0.1"},
		Logger:            slog.New(slog.NewTextHandler(logOut, nil)),
	}
	go func() { done <- daemon.Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	})
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	waitFor(t, "the daemon to own its name", startTimeout, func() (bool, error) {
		var owner string
		return conn.BusObject().Call("org.freedesktop.DBus.GetNameOwner", 0, exporter.BusName).Store(&owner) == nil, nil
	})
}

// startCockpit lays the page out as an XDG data directory and serves it
// with cockpit-ws on a loopback port, without login or TLS; its bridge
// takes the bus at busAddr for the system bus. It returns the page's URL.
func startCockpit(t *testing.T, ws, busAddr string) string {
	t.Helper()
	data := t.TempDir()
	for _, f := range install.CockpitFiles() {
		file := filepath.Join(data, "cockpit", install.CockpitPackage, f.Name)
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	cmd := exec.Command(ws, "--local-session=cockpit-bridge", "--address=127.0.0.1", fmt.Sprintf("--port=%d", port))
	home := t.TempDir()
	cmd.Env = append(os.Environ(),
		"XDG_DATA_DIRS="+data+":/usr/local/share:/usr/share",
		"DBUS_SYSTEM_BUS_ADDRESS="+busAddr,
		"HOME="+home, // no packages from the user's ~/.local/share/cockpit
		"XDG_DATA_HOME="+filepath.Join(home, "share"),
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"),
	)
	logs := &testbus.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its bridge goes with it
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting cockpit-ws: %v", err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("cockpit-ws and its bridge said:\n%s", logs.String())
		}
	})
	client := &http.Client{Timeout: 10 * time.Second}
	base := fmt.Sprintf("http://127.0.0.1:%d/cockpit/@localhost/%s/", port, install.CockpitPackage)
	waitFor(t, "cockpit-ws to serve the page", startTimeout, func() (bool, error) {
		resp, err := client.Get(base + "manifest.json")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	return base + "index.html"
}

// startBrowser starts a headless Chromium and returns a context for its
// first tab, and the console messages the page logs.
func startBrowser(t *testing.T, chromium string) (context.Context, *testbus.Buffer) {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox, // root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		// This machine's network is closed: no calls home.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1200, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	console := &testbus.Buffer{}
	// The first call on the context starts the browser.
	err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var args []string
			for _, a := range ev.Args {
				args = append(args, strings.Trim(string(a.Value), `"`)+a.Description)
			}
			fmt.Fprintf(console, "console.%s: %s\n", ev.Type, strings.Join(args, " "))
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			desc := ""
			if d.Exception != nil {
				desc = d.Exception.Description
			}
			fmt.Fprintf(console, "exception: %s %s (%s:%d)\n", d.Text, desc, d.URL, d.LineNumber+1)
		}
	})
	if err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx, console
}

// waitFor polls cond until it holds; an error from cond ends the test.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, error)) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			t.Logf("waited %v for %s", time.Since(start).Round(time.Millisecond), what)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// evalTrue is a condition that the expression is true in the page.
func evalTrue(ctx context.Context, expr string) func() (bool, error) {
	return func() (bool, error) {
		return chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
	}
}

// screenshot writes the whole page as a PNG artefact and returns its path.
func screenshot(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	dir := os.Getenv(ArtifactsEnv)
	if dir == "" {
		dir = os.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Error(err)
		return ""
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot: %v", err)
		return ""
	}
	file := filepath.Join(dir, name)
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Error(err)
		return ""
	}
	t.Logf("screenshot: %s", file)
	return file
}

// cell is the expression for the text of a cell of a volume's row.
func cell(volume, class string) string {
	return fmt.Sprintf(`(document.querySelector('#volumes tr[data-volume="%s"] .%s') || {}).textContent`, volume, class)
}

func TestPageShowsTheClusterLive(t *testing.T) {
	chromium, ws := tools(t)
	c := testbed.Start(t, 2)
	n1, n2 := c.Nodes[0], c.Nodes[1]
	n1.Gluster(t, "volume", "create", "gv-replica", "replica", "2",
		n1.Addr+":"+c.BrickDir(1, "r1"), n2.Addr+":"+c.BrickDir(2, "r2"), "force")
	n1.Gluster(t, "volume", "create", "gv-dist",
		n1.Addr+":"+c.BrickDir(1, "d1"), n2.Addr+":"+c.BrickDir(2, "d2"), "force")
	n1.Gluster(t, "volume", "start", "gv-replica")
	n1.Gluster(t, "volume", "start", "gv-dist")
	busAddr := testbus.Start(t)
	url := startCockpit(t, ws, busAddr)
	ctx, console := startBrowser(t, chromium)
	// Deferred, not a cleanup: the page as it was, before the daemon stops.
	defer func() {
		if t.Failed() {
			screenshot(t, ctx, "cockpit-page-failed.png")
			t.Logf("the page's console:\n%s", console.String())
		}
	}()

	// The page is open before the daemon starts: it says so, then shows
	// the cluster once the daemon is there.
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("opening %s: %v", url, err)
	}
	waitFor(t, "the page to say that the daemon is away", startTimeout, evalTrue(ctx,
		`document.getElementById("problem").textContent.includes("glusterbus is not running")`))
	startDaemon(t, c, busAddr)
	for _, v := range []string{"gv-replica", "gv-dist"} {
		waitFor(t, v+" listed, started, with both bricks online", startTimeout, evalTrue(ctx,
			cell(v, "status")+` === "Started" && `+cell(v, "bricks")+` === "2 / 2" && `+cell(v, "health")+` === "up"`))
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#bricks tr[data-brick="`+n2.Addr+":"+c.BrickDir(2, "d2")+`"]`))); err != nil {
		t.Fatal(err)
	}

	// Stop a volume with the CLI; the page changes by itself. A mark on
	// the window proves it was not reloaded; an observer notes when the
	// change showed.
	marked, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`
		window.notReloaded = true;
		window.stoppedShownAt = null;
		new MutationObserver(() => {
			if (window.stoppedShownAt === null && `+cell("gv-dist", "status")+` === "Stopped")
				window.stoppedShownAt = Date.now();
		}).observe(document.body, { subtree: true, childList: true, characterData: true });
		true`))
	if err != nil || !marked {
		t.Fatalf("marking the page: %v", err)
	}
	issued := time.Now()
	n1.Gluster(t, "volume", "stop", "gv-dist")
	returned := time.Now()
	waitFor(t, "the page to show gv-dist stopped", changeTimeout, evalTrue(ctx, `window.stoppedShownAt !== null`))
	shownMs, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`window.stoppedShownAt`))
	if err != nil {
		t.Fatal(err)
	}
	notReloaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded === true`))
	if err != nil {
		t.Fatal(err)
	}
	if !notReloaded {
		t.Error("the page was reloaded")
	}
	// glusterd records the stop before the CLI returns, so the page may
	// show it before then: the figure counts from the command's start.
	shown := time.UnixMilli(int64(shownMs))
	fmt.Printf("cockpit page: gv-dist showed Stopped %v after `gluster volume stop` was run, with no reload (target 2s; the command took %v)\n",
		shown.Sub(issued).Round(time.Millisecond), returned.Sub(issued).Round(time.Millisecond))
	waitFor(t, "gv-dist's health to say stopped", changeTimeout, evalTrue(ctx, cell("gv-dist", "health")+` === "stopped"`))
	screenshot(t, ctx, "cockpit-page.png")

	// The buttons call the daemon's methods: start the volume again, set
	// an option.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#volumes tr[data-volume="gv-dist"] button.start`))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the page to show gv-dist started again", changeTimeout, evalTrue(ctx, cell("gv-dist", "status")+` === "Started"`))
	if out := n1.Gluster(t, "volume", "info", "gv-dist"); !strings.Contains(out, "Status: Started") {
		t.Errorf("the Start button did not start gv-dist:\n%s", out)
	}
	err = chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS(`#set-option select`), volumeOption(t, ctx, "gv-replica")),
		chromedp.SetValue(chromedp.CSS(`#set-option input[name="key"]`), "performance.cache-size"),
		chromedp.SetValue(chromedp.CSS(`#set-option input[name="value"]`), "64MB"),
		chromedp.Click(chromedp.CSS(`#set-option button[type="submit"]`)))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the option set through the page", changeTimeout, func() (bool, error) {
		out, err := n1.RunGluster("volume", "get", "gv-replica", "performance.cache-size")
		return strings.Contains(out, "64MB"), err
	})
	if problem, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("problem").textContent`)); err != nil || problem != "" {
		t.Errorf("the page reports a problem: %q %v", problem, err)
	}
	if !notReloaded {
		return
	}
	if notReloaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded === true`)); err != nil || !notReloaded {
		t.Errorf("the page was reloaded: %v", err)
	}
}

// volumeOption is the value of the option that selects volume in the set
// option form.
func volumeOption(t *testing.T, ctx context.Context, volume string) string {
	t.Helper()
	value, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(
		`[...document.querySelectorAll('#set-option option')].find(o => o.textContent === %q).value`, volume)))
	if err != nil {
		t.Fatalf("the form offers no %s: %v", volume, err)
	}
	return value
}

// TestPageSaysWhenTheDaemonIsAway: with nobody owning the name, the page
// says it cannot read glusterbus instead of showing empty tables as if the
// cluster had no volumes.
func TestPageSaysWhenTheDaemonIsAway(t *testing.T) {
	chromium, ws := tools(t)
	url := startCockpit(t, ws, testbus.Start(t))
	ctx, console := startBrowser(t, chromium)
	t.Cleanup(func() {
		if t.Failed() {
			screenshot(t, ctx, "cockpit-page-no-daemon-failed.png")
			t.Logf("the page's console:\n%s", console.String())
		}
	})
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("opening %s: %v", url, err)
	}
	waitFor(t, "the page to report the problem", startTimeout, evalTrue(ctx,
		`!document.getElementById("problem").hidden && document.getElementById("problem").textContent.includes("glusterbus is not running")`))
	// It stays so once the read failed (the bridge closes the channel to a
	// name nobody owns).
	waitFor(t, "the page's read to fail", startTimeout, evalTrue(ctx, `view.loaded.state() === "rejected"`))
	problem, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("problem").textContent`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(problem, "glusterbus is not running") {
		t.Errorf("then the page says: %s", problem)
	}
}
