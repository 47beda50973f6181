package install

import (
	"bytes"
	"encoding/xml"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/godbus/dbus/v5/introspect"

	"github.com/glusterbus/glusterbus/api"
	"github.com/glusterbus/glusterbus/internal/config"
	"github.com/glusterbus/glusterbus/internal/hooks"
)

// stage makes a root with glusterd's working directory and its hook
// directories, as glusterfs-server leaves them, and a binary to install.
func stage(t *testing.T) (root, exe string) {
	t.Helper()
	root = t.TempDir()
	for _, op := range hooks.Ops {
		for _, phase := range []string{"pre", "post"} {
			if err := os.MkdirAll(filepath.Join(root, "var/lib/glusterd/hooks/1", op, phase), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	exe = filepath.Join(t.TempDir(), "glusterbus")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\necho not really glusterbus\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	return root, exe
}

type fileState struct {
	mode    fs.FileMode
	data    string
	modTime int64
	ino     uint64
}

// snapshot is every file and directory under root.
func snapshot(t *testing.T, root string) map[string]fileState {
	t.Helper()
	out := map[string]fileState{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		s := fileState{mode: fi.Mode(), ino: inode(fi)}
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s.data, s.modTime = string(b), fi.ModTime().UnixNano()
		}
		out[strings.TrimPrefix(p, root)] = s
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

func diffSnapshots(a, b map[string]fileState) []string {
	var d []string
	for p, s := range a {
		if o, ok := b[p]; !ok {
			d = append(d, "-"+p)
		} else if o != s {
			d = append(d, "~"+p)
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			d = append(d, "+"+p)
		}
	}
	slices.Sort(d)
	return d
}

func run(t *testing.T, o Options) (string, error) {
	t.Helper()
	var out bytes.Buffer
	o.Out = &out
	err := Install(o)
	t.Logf("install:\n%s", out.String())
	return out.String(), err
}

func runUninstall(t *testing.T, o UninstallOptions) (string, error) {
	t.Helper()
	var out bytes.Buffer
	o.Out = &out
	err := Uninstall(o)
	t.Logf("uninstall:\n%s", out.String())
	return out.String(), err
}

func TestInstallWritesEveryFile(t *testing.T) {
	root, exe := stage(t)
	if _, err := run(t, Options{Root: root, Group: "gbadmins", Executable: exe}); err != nil {
		t.Fatal(err)
	}
	bin, _ := os.ReadFile(exe)
	l := LayoutFor(DefaultPrefix)
	want := map[string]struct {
		data []byte
		mode fs.FileMode
	}{
		"/usr/local/bin/glusterbus":                                             {bin, 0o755},
		"/usr/local/lib/systemd/system/glusterbus.service":                      {SystemdUnit("/usr/local/bin/glusterbus"), 0o644},
		"/etc/dbus-1/system.d/org.storaged.Storaged.conf":                       {BusPolicy("gbadmins"), 0o644},
		"/usr/local/share/dbus-1/system-services/org.storaged.Storaged.service": {ActivationFile("/usr/local/bin/glusterbus"), 0o644},
		"/usr/share/polkit-1/actions/org.storaged.Storaged.glusterfs.policy":    {PolkitPolicy(), 0o644},
		"/etc/glusterbus/glusterbus.conf":                                       {[]byte(`{"manage_group": "gbadmins"}` + "\n"), 0o644},
	}
	for _, f := range CockpitFiles() {
		want[path.Join("/usr/local/share/cockpit/glusterbus", f.Name)] = struct {
			data []byte
			mode fs.FileMode
		}{f.Data, 0o644}
	}
	for _, op := range hooks.Ops {
		o := hooks.Options{Workdir: filepath.Join(root, "/var/lib/glusterd"), Binary: l.Binary, Bus: "system"}
		want[path.Join("/var/lib/glusterd/hooks/1", op, "post", hooks.ScriptName)] = struct {
			data []byte
			mode fs.FileMode
		}{[]byte(hooks.Script(o, op)), 0o755}
	}
	for p, w := range want {
		fi, err := os.Stat(filepath.Join(root, p))
		if err != nil {
			t.Error(err)
			continue
		}
		got, _ := os.ReadFile(filepath.Join(root, p))
		if !bytes.Equal(got, w.data) {
			t.Errorf("%s:\n%s\nwant:\n%s", p, got, w.data)
		}
		if fi.Mode() != w.mode {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), w.mode)
		}
	}
	m, err := ReadManifest(root)
	if err != nil || m == nil {
		t.Fatalf("manifest: %v %v", m, err)
	}
	if len(m.Files) != len(want) {
		t.Errorf("manifest lists %d files, want %d: %v", len(m.Files), len(want), paths(m.Files))
	}
	for _, e := range m.Files {
		w, ok := want[e.Path]
		if !ok || e.SHA256 != sum(w.data) {
			t.Errorf("manifest entry %+v: not what was written", e)
		}
	}
	if m.Prefix != "/usr/local" || m.Group != "gbadmins" {
		t.Errorf("manifest settings: %+v", m)
	}
	if fi, err := os.Stat(filepath.Join(root, "var/lib/glusterbus")); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("state directory: %v %v", fi, err)
	}
	c, err := config.Load(filepath.Join(root, l.Config))
	if err != nil || c.ManageGroup != "gbadmins" {
		t.Errorf("the configuration does not load: %+v %v", c, err)
	}
}

func TestInstallTwiceChangesNothing(t *testing.T) {
	root, exe := stage(t)
	if _, err := run(t, Options{Root: root, Group: "gbadmins", Executable: exe}); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, root)
	out, err := run(t, Options{Root: root, Group: "gbadmins", Executable: exe})
	if err != nil {
		t.Fatal(err)
	}
	if d := diffSnapshots(before, snapshot(t, root)); len(d) > 0 {
		t.Errorf("the second install changed %v", d)
	}
	if !strings.Contains(out, "nothing to do") {
		t.Errorf("the second install does not say it did nothing")
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(l, "unchanged ") && !strings.HasPrefix(l, "nothing to do") &&
			!strings.HasPrefix(l, "note: group") && !strings.HasPrefix(l, "to start it") {
			t.Errorf("unexpected line %q", l)
		}
	}
}

func TestInstallUpdatesItsOwnFiles(t *testing.T) {
	root, exe := stage(t)
	if _, err := run(t, Options{Root: root, Group: "gbadmins", Executable: exe}); err != nil {
		t.Fatal(err)
	}
	// A new binary and another group: ours are replaced, the configuration
	// is the admin's and stays.
	if err := os.WriteFile(exe, []byte("#!/bin/sh\necho version 2\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, Options{Root: root, Group: "ops", Executable: exe})
	if err != nil {
		t.Fatal(err)
	}
	l := LayoutFor(DefaultPrefix)
	for _, p := range []string{l.Binary, l.BusPolicy} {
		if !strings.Contains(out, "updated "+filepath.Join(root, p)) {
			t.Errorf("%s not reported updated", p)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(root, l.BusPolicy)); !bytes.Equal(got, BusPolicy("ops")) {
		t.Errorf("bus policy not updated")
	}
	if got, _ := os.ReadFile(filepath.Join(root, l.Config)); !bytes.Equal(got, ConfigFile("gbadmins")) {
		t.Errorf("the configuration was replaced: %s", got)
	}
	if !strings.Contains(out, `names manage_group "gbadmins", but the bus policy allows group "ops"`) {
		t.Errorf("no notice that the configuration names another group")
	}
}

func TestInstallRefusesForeignFiles(t *testing.T) {
	l := LayoutFor(DefaultPrefix)
	for _, p := range []string{l.Unit, l.BusPolicy, l.Polkit, l.Binary, path.Join(l.Cockpit, "index.html")} {
		t.Run(path.Base(p), func(t *testing.T) {
			root, exe := stage(t)
			foreign := filepath.Join(root, p)
			if err := os.MkdirAll(filepath.Dir(foreign), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(foreign, []byte("the admin's own\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, root)
			out, err := run(t, Options{Root: root, Group: "gbadmins", Executable: exe})
			if err == nil || !strings.Contains(err.Error(), "--force") {
				t.Fatalf("install with a foreign %s: err %v", p, err)
			}
			if !strings.Contains(out, "refused "+foreign+": not written by glusterbus") {
				t.Errorf("the refusal does not name the file")
			}
			if d := diffSnapshots(before, snapshot(t, root)); len(d) > 0 {
				t.Errorf("a refused install changed %v", d)
			}
			// --force replaces it.
			if _, err := run(t, Options{Root: root, Group: "gbadmins", Executable: exe, Force: true}); err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(foreign); string(got) == "the admin's own\n" {
				t.Errorf("--force did not replace %s", p)
			}
		})
	}
}

func TestInstallRefusesAChangedFile(t *testing.T) {
	root, exe := stage(t)
	if _, err := run(t, Options{Root: root, Group: "gbadmins", Executable: exe}); err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(root, LayoutFor(DefaultPrefix).Unit)
	edited := append(SystemdUnit("/usr/local/bin/glusterbus"), "# tuned by the admin\n"...)
	if err := os.WriteFile(unit, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, root)
	out, err := run(t, Options{Root: root, Group: "ops", Executable: exe})
	if err == nil || !strings.Contains(out, "refused "+unit+": changed since glusterbus wrote it") {
		t.Fatalf("install over an edited unit: %v", err)
	}
	if d := diffSnapshots(before, snapshot(t, root)); len(d) > 0 {
		t.Errorf("a refused install changed %v", d)
	}
}

func TestInstallLeavesForeignHookScripts(t *testing.T) {
	root, exe := stage(t)
	foreign := filepath.Join(root, "var/lib/glusterd/hooks/1/start/post", hooks.ScriptName)
	if err := os.WriteFile(foreign, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, root)
	if _, err := run(t, Options{Root: root, Executable: exe, Force: true}); err == nil {
		t.Fatal("install replaced a hook script without glusterbus's marker")
	}
	if d := diffSnapshots(before, snapshot(t, root)); len(d) > 0 {
		t.Errorf("a refused install changed %v", d)
	}
}

func TestInstallSkipsHooksWithoutGlusterd(t *testing.T) {
	root := t.TempDir()
	_, exe := stage(t)
	out, err := run(t, Options{Root: root, Group: "gbadmins", Executable: exe})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "skipped the glusterd hook scripts") {
		t.Error("no notice that the hooks were skipped")
	}
	if _, err := os.Stat(filepath.Join(root, "var/lib/glusterd")); err == nil {
		t.Error("install created glusterd's working directory")
	}
}

func TestInstallKeepsAnExistingConfiguration(t *testing.T) {
	root, exe := stage(t)
	conf := filepath.Join(root, "etc/glusterbus/glusterbus.conf")
	if err := os.MkdirAll(filepath.Dir(conf), 0o755); err != nil {
		t.Fatal(err)
	}
	mine := []byte(`{"manage_group": "wheel", "log_level": "debug"}` + "\n")
	if err := os.WriteFile(conf, mine, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, Options{Root: root, Group: "gbadmins", Executable: exe})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(conf); !bytes.Equal(got, mine) {
		t.Errorf("the configuration was replaced")
	}
	if !strings.Contains(out, "kept "+conf) || !strings.Contains(out, `manage_group "wheel"`) {
		t.Errorf("no notice about the kept configuration")
	}
	// Not ours: uninstall leaves it.
	if _, err := runUninstall(t, UninstallOptions{Root: root}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(conf); !bytes.Equal(got, mine) {
		t.Errorf("uninstall removed the admin's configuration")
	}
}

func TestUninstallRemovesExactlyOurs(t *testing.T) {
	root, exe := stage(t)
	// Something of somebody else's where we install.
	other := filepath.Join(root, "etc/dbus-1/system.d/org.example.Other.conf")
	if err := os.MkdirAll(filepath.Dir(other), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(other, []byte("<busconfig/>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, root)
	if _, err := run(t, Options{Root: root, Group: "gbadmins", Executable: exe}); err != nil {
		t.Fatal(err)
	}
	out, err := runUninstall(t, UninstallOptions{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if d := diffSnapshots(before, snapshot(t, root)); len(d) > 0 {
		t.Errorf("install and uninstall left %v", d)
	}
	if !strings.Contains(out, "removed "+filepath.Join(root, LayoutFor("/").Manifest)) {
		t.Error("the manifest's removal is not reported")
	}
	out, err = runUninstall(t, UninstallOptions{Root: root})
	if err != nil || !strings.Contains(out, "nothing to uninstall") {
		t.Errorf("a second uninstall: %v", err)
	}
}

func TestUninstallLeavesChangedFiles(t *testing.T) {
	root, exe := stage(t)
	if _, err := run(t, Options{Root: root, Group: "gbadmins", Executable: exe}); err != nil {
		t.Fatal(err)
	}
	l := LayoutFor(DefaultPrefix)
	conf := filepath.Join(root, l.Config)
	policy := filepath.Join(root, l.BusPolicy)
	hook := filepath.Join(root, "var/lib/glusterd/hooks/1/set/post", hooks.ScriptName)
	for _, f := range []string{conf, policy, hook} {
		data, _ := os.ReadFile(f)
		if err := os.WriteFile(f, append(data, "\n"...), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	edited := map[string]string{}
	for _, f := range []string{conf, policy, hook} {
		b, _ := os.ReadFile(f)
		edited[f] = string(b)
	}
	out, err := runUninstall(t, UninstallOptions{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	for f, data := range edited {
		if got, err := os.ReadFile(f); err != nil || string(got) != data {
			t.Errorf("%s: changed by the admin, yet uninstall touched it: %v", f, err)
		}
		if !strings.Contains(out, "left "+f+": changed since glusterbus wrote it") {
			t.Errorf("%s: no notice that it stays", f)
		}
	}
	for _, p := range []string{l.Binary, l.Unit, l.Activation, l.Polkit, l.Cockpit + "/index.html", "/var/lib/glusterd/hooks/1/start/post/" + hooks.ScriptName} {
		if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
			t.Errorf("%s survived uninstall", p)
		}
	}
	m, err := ReadManifest(root)
	if err != nil || m == nil || len(m.Files) != 3 {
		t.Fatalf("the manifest should list the 3 files left: %+v %v", m, err)
	}
	// Uninstalling again still leaves them.
	if _, err := runUninstall(t, UninstallOptions{Root: root}); err != nil {
		t.Fatal(err)
	}
	for f := range edited {
		if _, err := os.Stat(f); err != nil {
			t.Error(err)
		}
	}
}

func TestUninstallRefusesWhileEnabled(t *testing.T) {
	root, exe := stage(t)
	if _, err := run(t, Options{Root: root, Group: "gbadmins", Executable: exe}); err != nil {
		t.Fatal(err)
	}
	wants := filepath.Join(root, "etc/systemd/system/multi-user.target.wants")
	if err := os.MkdirAll(wants, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/usr/local/lib/systemd/system/glusterbus.service", filepath.Join(wants, UnitName)); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, root)
	if _, err := runUninstall(t, UninstallOptions{Root: root}); err == nil || !strings.Contains(err.Error(), "systemctl disable") {
		t.Fatalf("uninstall of an enabled unit: %v", err)
	}
	if d := diffSnapshots(before, snapshot(t, root)); len(d) > 0 {
		t.Errorf("a refused uninstall changed %v", d)
	}
	if _, err := runUninstall(t, UninstallOptions{Root: root, Force: true}); err != nil {
		t.Fatal(err)
	}
}

func TestInstallRejectsBadInput(t *testing.T) {
	root, exe := stage(t)
	for _, o := range []Options{
		{Prefix: "usr/local"},
		{Prefix: "/opt/my glusterbus"},
		{Prefix: "/opt/50%"},
		{Group: "bad group"},
		{Group: "-rf"},
		{GlusterdWorkdir: "var/lib/glusterd"},
	} {
		o.Root, o.Executable = root, exe
		if _, err := run(t, o); err == nil {
			t.Errorf("%+v: accepted", o)
		}
	}
	if entries, _ := os.ReadDir(root); len(entries) != 1 {
		t.Errorf("a rejected install wrote something")
	}
}

func TestLayout(t *testing.T) {
	for _, c := range []struct {
		prefix string
		want   Layout
	}{
		{"/usr", Layout{
			Binary:     "/usr/bin/glusterbus",
			Unit:       "/usr/lib/systemd/system/glusterbus.service",
			BusPolicy:  "/usr/share/dbus-1/system.d/org.storaged.Storaged.conf",
			Activation: "/usr/share/dbus-1/system-services/org.storaged.Storaged.service",
			Cockpit:    "/usr/share/cockpit/glusterbus",
		}},
		{"/usr/local/", Layout{
			Binary:     "/usr/local/bin/glusterbus",
			Unit:       "/usr/local/lib/systemd/system/glusterbus.service",
			BusPolicy:  "/etc/dbus-1/system.d/org.storaged.Storaged.conf",
			Activation: "/usr/local/share/dbus-1/system-services/org.storaged.Storaged.service",
			Cockpit:    "/usr/local/share/cockpit/glusterbus",
		}},
		{"/opt/glusterbus", Layout{
			Binary:     "/opt/glusterbus/bin/glusterbus",
			Unit:       "/etc/systemd/system/glusterbus.service",
			BusPolicy:  "/etc/dbus-1/system.d/org.storaged.Storaged.conf",
			Activation: "/usr/local/share/dbus-1/system-services/org.storaged.Storaged.service",
			Cockpit:    "/opt/glusterbus/share/cockpit/glusterbus",
		}},
	} {
		got := LayoutFor(c.prefix)
		c.want.Polkit = "/usr/share/polkit-1/actions/org.storaged.Storaged.glusterfs.policy"
		c.want.Config = "/etc/glusterbus/glusterbus.conf"
		c.want.Manifest = "/var/lib/glusterbus/install-manifest.json"
		if got != c.want {
			t.Errorf("LayoutFor(%q) = %+v, want %+v", c.prefix, got, c.want)
		}
	}
}

// busconfig is the part of a D-Bus policy file the test reads.
type busconfig struct {
	Policies []struct {
		User    string `xml:"user,attr"`
		Group   string `xml:"group,attr"`
		Context string `xml:"context,attr"`
		Rules   []struct {
			XMLName   xml.Name
			Own       string `xml:"own,attr"`
			Dest      string `xml:"send_destination,attr"`
			Interface string `xml:"send_interface,attr"`
			Member    string `xml:"send_member,attr"`
		} `xml:",any"`
	} `xml:"policy"`
}

// TestBusPolicyFollowsTheAPI checks the policy against api/: everyone may
// call only methods that exist and read; root may own the name.
func TestBusPolicyFollowsTheAPI(t *testing.T) {
	ifaces, err := api.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	standard := map[string]bool{
		"org.freedesktop.DBus.Introspectable.": true,
		"org.freedesktop.DBus.Peer.":           true,
		"org.freedesktop.DBus.Properties.Get":  true, "org.freedesktop.DBus.Properties.GetAll": true,
		"org.freedesktop.DBus.ObjectManager.GetManagedObjects": true,
	}
	reads := map[string]bool{"GetEvents": true, "LastSequence": true}
	for _, group := range []string{"gbadmins", ""} {
		var c busconfig
		if err := xml.Unmarshal(BusPolicy(group), &c); err != nil {
			t.Fatalf("group %q: %v", group, err)
		}
		var everyone, members []string
		for _, p := range c.Policies {
			for _, r := range p.Rules {
				switch {
				case r.Own != "":
					if p.User != "root" || r.XMLName.Local != "allow" || r.Own != BusName {
						t.Errorf("ownership rule %+v in %+v", r, p)
					}
				case r.Dest != BusName:
					t.Errorf("rule for another destination: %+v", r)
				case p.Context == "default" && r.XMLName.Local == "allow":
					everyone = append(everyone, r.Interface+"."+r.Member)
				case p.Group != "":
					members = append(members, r.Interface)
				}
			}
		}
		for _, m := range everyone {
			iface, member := m[:strings.LastIndex(m, ".")], m[strings.LastIndex(m, ".")+1:]
			if standard[m] {
				continue
			}
			def, ok := ifaces[iface]
			if !ok || !reads[member] || !slices.ContainsFunc(def.Methods, func(x introspect.Method) bool { return x.Name == member }) {
				t.Errorf("everyone may call %s", m)
			}
		}
		if len(everyone) != len(standard)+len(reads) {
			t.Errorf("everyone may call %v", everyone)
		}
		wantMembers := []string{"org.storaged.Storaged.Manager.GlusterFS", "org.storaged.Storaged.GlusterFS.Volume"}
		if group == "" {
			wantMembers = nil
		}
		if !slices.Equal(members, wantMembers) {
			t.Errorf("group %q may call %v", group, members)
		}
	}
}

func TestTemplatesAreWellFormed(t *testing.T) {
	for name, data := range map[string][]byte{
		"bus policy": BusPolicy("a-b.c_d"),
		"polkit":     PolkitPolicy(),
	} {
		d := xml.NewDecoder(bytes.NewReader(data))
		d.Strict = true
		for {
			_, err := d.Token()
			if err != nil {
				if err.Error() != "EOF" {
					t.Errorf("%s: %v", name, err)
				}
				break
			}
		}
	}
	if !bytes.Contains(PolkitPolicy(), []byte(`<action id="org.storaged.Storaged.glusterfs.manage-glusterfs">`)) {
		t.Error("the polkit file does not define the action authz asks for")
	}
	unit := string(SystemdUnit("/usr/bin/glusterbus"))
	for _, line := range []string{
		"Type=dbus", "BusName=org.storaged.Storaged", "ExecStart=/usr/bin/glusterbus serve --bus system",
		"Restart=on-failure", "After=glusterd.service", "ExecReload=/bin/kill -HUP $MAINPID", "WantedBy=multi-user.target",
	} {
		if !slices.Contains(strings.Split(unit, "\n"), line) {
			t.Errorf("the unit lacks %q", line)
		}
	}
	for _, line := range strings.Split(unit, "\n") {
		for _, dep := range []string{"Requires=", "Wants=", "BindsTo=", "Requisite=", "PartOf="} {
			if strings.HasPrefix(line, dep) {
				t.Errorf("the unit ties glusterbus to another unit: %s", line)
			}
		}
	}
	act := string(ActivationFile("/usr/bin/glusterbus"))
	for _, line := range []string{"[D-BUS Service]", "Name=org.storaged.Storaged", "Exec=/usr/bin/glusterbus serve --bus system", "User=root", "SystemdService=glusterbus.service"} {
		if !slices.Contains(strings.Split(act, "\n"), line) {
			t.Errorf("the activation file lacks %q", line)
		}
	}
}
