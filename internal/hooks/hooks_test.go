package hooks

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// newWorkdir returns a glusterd working directory with a foreign hook script
// of the kind Debian ships in one op's post directory.
func newWorkdir(t *testing.T) (workdir, foreign string) {
	t.Helper()
	workdir = t.TempDir()
	dir := postDir(workdir, "start")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	foreign = filepath.Join(dir, "S30samba-start.sh")
	if err := os.WriteFile(foreign, []byte("#!/bin/sh\necho samba\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return workdir, foreign
}

func wantScripts(workdir string) []string {
	var want []string
	for _, op := range Ops {
		want = append(want, filepath.Join(postDir(workdir, op), ScriptName))
	}
	return want
}

func TestInstallUninstall(t *testing.T) {
	workdir, foreign := newWorkdir(t)
	o := Options{Workdir: workdir, Binary: "/usr/bin/glusterbus", Bus: "system"}

	written, err := Install(o)
	if err != nil {
		t.Fatal(err)
	}
	want := wantScripts(workdir)
	if !slices.Equal(written, want) {
		t.Fatalf("written %q, want %q", written, want)
	}
	for i, path := range want {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != 0o755 {
			t.Errorf("%s: mode %v, want 0755", path, fi.Mode())
		}
		data, _ := os.ReadFile(path)
		if string(data) != Script(o, Ops[i]) {
			t.Errorf("%s:\n%s", path, data)
		}
		di, err := os.Stat(filepath.Dir(path))
		if err != nil || !di.IsDir() {
			t.Fatalf("%s: %v", filepath.Dir(path), err)
		}
	}
	installed, err := Installed(workdir)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	if !slices.Equal(installed, want) {
		t.Fatalf("Installed = %q, want %q", installed, want)
	}

	// Again, with another binary: our files are rewritten in place.
	o.Binary = "/opt/glusterbus/bin/glusterbus"
	if _, err := Install(o); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(postDir(workdir, "set"), ScriptName))
	if string(data) != Script(o, "set") {
		t.Fatalf("not rewritten:\n%s", data)
	}
	if installed, _ := Installed(workdir); len(installed) != len(Ops) {
		t.Fatalf("after a second install: %q", installed)
	}
	leftovers(t, workdir)

	removed, err := Uninstall(workdir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(removed, want) {
		t.Fatalf("removed %q, want %q", removed, want)
	}
	if installed, _ := Installed(workdir); len(installed) != 0 {
		t.Fatalf("after Uninstall: %q", installed)
	}
	if data, err := os.ReadFile(foreign); err != nil || string(data) != "#!/bin/sh\necho samba\n" {
		t.Fatalf("foreign script touched: %q, %v", data, err)
	}
	if removed, err := Uninstall(workdir); err != nil || len(removed) != 0 {
		t.Fatalf("second Uninstall: %q, %v", removed, err)
	}
}

// leftovers fails if a temporary file was left in a post directory.
func leftovers(t *testing.T, workdir string) {
	t.Helper()
	for _, op := range Ops {
		entries, _ := os.ReadDir(postDir(workdir, op))
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") {
				t.Errorf("temporary file left: %s", filepath.Join(postDir(workdir, op), e.Name()))
			}
		}
	}
}

func TestInstallRefusesForeignFile(t *testing.T) {
	workdir, _ := newWorkdir(t)
	theirs := filepath.Join(postDir(workdir, "stop"), ScriptName)
	if err := os.MkdirAll(filepath.Dir(theirs), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(theirs, []byte("#!/bin/sh\n# someone else's\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := Install(Options{Workdir: workdir, Binary: "/usr/bin/glusterbus", Bus: "system"})
	if err == nil || !strings.Contains(err.Error(), theirs) {
		t.Fatalf("Install with a foreign %s: err = %v", theirs, err)
	}
	if data, _ := os.ReadFile(theirs); string(data) != "#!/bin/sh\n# someone else's\n" {
		t.Fatalf("foreign file overwritten: %q", data)
	}
	if installed, _ := Installed(workdir); len(installed) != 0 {
		t.Fatalf("Install wrote %q before failing", installed)
	}
	if removed, err := Uninstall(workdir); err != nil || len(removed) != 0 {
		t.Fatalf("Uninstall removed %q (%v)", removed, err)
	}
	if _, err := os.Stat(theirs); err != nil {
		t.Fatal(err)
	}

	// A symbolic link with our name is foreign too, even to one of ours.
	os.Remove(theirs)
	if _, err := Install(Options{Workdir: workdir, Binary: "/usr/bin/glusterbus", Bus: "system"}); err != nil {
		t.Fatal(err)
	}
	ours := filepath.Join(postDir(workdir, "create"), ScriptName)
	os.Remove(theirs)
	if err := os.Symlink(ours, theirs); err != nil {
		t.Fatal(err)
	}
	if _, err := Install(Options{Workdir: workdir, Binary: "/usr/bin/glusterbus", Bus: "system"}); err == nil {
		t.Fatal("Install replaced a symbolic link")
	}
	if fi, err := os.Lstat(theirs); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("symbolic link replaced: %v", err)
	}
}

func TestInstallOptions(t *testing.T) {
	workdir := t.TempDir()
	for _, o := range []Options{
		{Workdir: "", Binary: "/usr/bin/glusterbus", Bus: "system"},
		{Workdir: workdir, Binary: "", Bus: "system"},
		{Workdir: workdir, Binary: "glusterbus", Bus: "system"},
		{Workdir: workdir, Binary: "/usr/bin/glusterbus", Bus: ""},
		{Workdir: workdir, Binary: "/usr/bin/glusterbus\x00", Bus: "system"},
		{Workdir: filepath.Join(workdir, "missing"), Binary: "/usr/bin/glusterbus", Bus: "system"},
	} {
		if _, err := Install(o); err == nil {
			t.Errorf("Install(%+v) succeeded", o)
		}
	}
	if entries, _ := os.ReadDir(workdir); len(entries) != 0 {
		t.Fatalf("failed installs left %d entries", len(entries))
	}
}

func TestInstalledWithoutHooks(t *testing.T) {
	if got, err := Installed(t.TempDir()); err != nil || len(got) != 0 {
		t.Fatalf("Installed = %q, %v", got, err)
	}
}

func TestShQuote(t *testing.T) {
	for _, s := range []string{"", "plain", "with space", "it's", "'", "''", `a"b$c` + "`d`\\e", "new\nline", "$(touch /tmp/x)", "-n"} {
		out, err := exec.Command("sh", "-c", "printf %s "+shQuote(s)).Output()
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if string(out) != s {
			t.Errorf("shQuote(%q) = %s gives %q", s, shQuote(s), out)
		}
	}
}

// TestScriptRunsBinary runs an installed script with sh: it starts the
// binary (whose path has a space and a quote) with the hook arguments in the
// background and exits 0 at once.
func TestScriptRunsBinary(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "it's a dir")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	record := filepath.Join(dir, "calls")
	bin := writeRecorder(t, dir, record)
	// The binary, once it has recorded its call, runs until the test
	// ends: a script that waited for it would not return.
	release, released := filepath.Join(dir, "release"), filepath.Join(dir, "released")
	appendFile(t, bin, "while [ -d "+shQuote(dir)+" ] && [ ! -e "+shQuote(release)+" ]; do sleep 0.1; done\n"+
		": > "+shQuote(released)+"\n")
	t.Cleanup(func() {
		// Before the directory goes: the binary ends.
		if err := os.WriteFile(release, nil, 0o600); err != nil {
			t.Error(err)
			return
		}
		deadline := time.Now().Add(time.Minute)
		for {
			if _, err := os.Stat(released); err == nil || time.Now().After(deadline) {
				return
			}
			time.Sleep(10 * time.Millisecond) // polling a condition
		}
	})

	workdir := t.TempDir()
	bus := "unix:path=/run/o'dd bus,guid=1"
	if _, err := Install(Options{Workdir: workdir, Binary: bin, Bus: bus}); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(postDir(workdir, "set"), ScriptName)
	args := []string{"--volname=gv0", "-o", "user.smb=a b=c", "$(touch x)", "--gd-workdir=" + workdir}
	type result struct {
		out []byte
		err error
	}
	ran := make(chan result, 1)
	go func() {
		out, err := exec.Command(script, args...).CombinedOutput()
		ran <- result{out, err}
	}()
	select {
	case r := <-ran:
		if r.err != nil || len(r.out) != 0 {
			t.Fatalf("script: %v, output %q", r.err, r.out)
		}
	case <-time.After(time.Minute):
		t.Fatal("the script still runs after a minute: it waits for the binary")
	}
	calls := waitCalls(t, record, 1)
	want := append([]string{"hook", "--bus", bus, "set", "--"}, args...)
	if !slices.Equal(calls[0], want) {
		t.Fatalf("binary got %q, want %q", calls[0], want)
	}

	// A failing binary does not fail the script.
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command(script, "--volname=gv0").Run(); err != nil {
		t.Fatalf("script with a failing binary: %v", err)
	}
}

// writeRecorder writes an executable sh script to dir that appends each of
// its invocations to record: one line, the arguments separated by tabs.
func writeRecorder(t *testing.T, dir, record string) string {
	t.Helper()
	bin := filepath.Join(dir, "glusterbus \"fake\"")
	script := "#!/bin/sh\n" +
		"tab=$(printf '\\t') line= sep=\n" +
		"for a in \"$@\"; do line=\"$line$sep$a\"; sep=$tab; done\n" +
		"printf '%s\\n' \"$line\" >> " + shQuote(record) + "\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// appendFile appends text to the file at path.
func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// waitCalls waits until record holds at least n lines and returns them,
// split at tabs.
func waitCalls(t *testing.T, record string, n int) [][]string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		data, _ := os.ReadFile(record)
		lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		if len(data) > 0 && strings.HasSuffix(string(data), "\n") && len(lines) >= n {
			var calls [][]string
			for _, l := range lines {
				calls = append(calls, strings.Split(l, "\t"))
			}
			return calls
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s after 30s: %q, want %d calls", record, data, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
