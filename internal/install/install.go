// Package install puts glusterbus in place as a system service, and takes
// it away again: the binary, the systemd unit, the D-Bus system bus policy
// and activation file, the polkit action, the Cockpit page, the
// configuration and glusterd's hook scripts (see LayoutFor for where each
// goes).
//
// Every file written is recorded with its SHA-256 in a manifest
// (/var/lib/glusterbus/install-manifest.json). Install replaces only files
// it wrote and that are unchanged since, and refuses, before writing
// anything, when another file is in the way (unless Force); it never
// replaces an existing configuration. Uninstall removes exactly the
// recorded files that are unchanged. Running either twice changes nothing
// the second time.
package install

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/glusterbus/glusterbus/internal/atomicfile"
	"github.com/glusterbus/glusterbus/internal/config"
	"github.com/glusterbus/glusterbus/internal/hooks"
)

// Defaults of Options.
const (
	DefaultPrefix  = "/usr/local"
	DefaultGroup   = "glusterbus"
	DefaultWorkdir = "/var/lib/glusterd"
)

// StartCommand is what starts the service once installed.
const StartCommand = "systemctl daemon-reload && systemctl enable --now glusterbus"

// Options says what to install where.
type Options struct {
	// Root is prefixed to every path, for staging a package; "" or "/"
	// installs on the running system.
	Root string
	// Prefix is where the binary goes ("" for DefaultPrefix); it decides
	// the other places too (LayoutFor).
	Prefix string
	// Group may call the methods that change GlusterFS besides root; ""
	// allows root only.
	Group string
	// GlusterdWorkdir receives the hook scripts ("" for DefaultWorkdir);
	// if it does not exist under Root, they are skipped.
	GlusterdWorkdir string
	// Executable is the binary to install; "" for the running one.
	Executable string
	// Force replaces files that install did not write or that changed
	// since.
	Force bool
	// Out receives one line per file and the notices; nil discards them.
	Out io.Writer
}

// safePath is what may appear in paths written into the unit, the
// activation file and the hook scripts without quoting.
var safePath = regexp.MustCompile(`^/[A-Za-z0-9._+/-]*$`)

// target is one file to put in place.
type target struct {
	path string // on the installed system
	data []byte
	mode fs.FileMode
	keep bool // never replace an existing file (the configuration)
	hook bool // a glusterd hook script, written by hooks.Install
}

type action int

const (
	actNone     action = iota // in place and recorded
	actAdopt                  // in place, not recorded yet
	actWrite                  // missing
	actReplace                // ours and unchanged, but not what we write now
	actForce                  // in the way, replaced because of Force
	actChmod                  // right content, wrong mode
	actKeep                   // exists, and is never replaced
	actConflict               // in the way
)

type step struct {
	target
	act action
	why string // of a conflict
	// forceable says Force may replace it: hooks.Install refuses any file
	// without its marker.
	forceable bool
}

// Install puts everything in place; see the package documentation.
func Install(o Options) error {
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.GlusterdWorkdir == "" {
		o.GlusterdWorkdir = DefaultWorkdir
	}
	o.Prefix = path.Clean(o.Prefix)
	o.GlusterdWorkdir = path.Clean(o.GlusterdWorkdir)
	if !safePath.MatchString(o.Prefix) {
		return fmt.Errorf("prefix %q: want an absolute path of letters, digits and ._+-/", o.Prefix)
	}
	if !path.IsAbs(o.GlusterdWorkdir) {
		return fmt.Errorf("glusterd working directory %q is not absolute", o.GlusterdWorkdir)
	}
	if _, err := config.Parse(ConfigFile(o.Group)); err != nil {
		return fmt.Errorf("group: %w", err)
	}
	root := cleanRoot(o.Root)
	exe := o.Executable
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return fmt.Errorf("finding the running binary: %w", err)
		}
	}
	binary, err := os.ReadFile(exe)
	if err != nil {
		return fmt.Errorf("reading the binary to install: %w", err)
	}
	m, err := ReadManifest(root)
	if err != nil {
		return err
	}
	if m == nil {
		m = &Manifest{}
	}

	l := LayoutFor(o.Prefix)
	targets := []target{
		{path: l.Binary, data: binary, mode: 0o755},
		{path: l.Unit, data: SystemdUnit(l.Binary), mode: 0o644},
		{path: l.BusPolicy, data: BusPolicy(o.Group), mode: 0o644},
		{path: l.Activation, data: ActivationFile(l.Binary), mode: 0o644},
		{path: l.Polkit, data: PolkitPolicy(), mode: 0o644},
		{path: l.Config, data: ConfigFile(o.Group), mode: 0o644, keep: true},
	}
	for _, f := range CockpitFiles() {
		targets = append(targets, target{path: path.Join(l.Cockpit, f.Name), data: f.Data, mode: 0o644})
	}
	hookOpts := hooks.Options{Workdir: onDisk(root, o.GlusterdWorkdir), Binary: l.Binary, Bus: "system"}
	var notices []string
	marked := map[string]bool{}
	if fi, err := os.Stat(hookOpts.Workdir); err == nil && fi.IsDir() {
		ours, err := hooks.Installed(hookOpts.Workdir)
		if err != nil {
			return err
		}
		for _, p := range ours {
			marked[p] = true
		}
		for _, op := range hooks.Ops {
			targets = append(targets, target{
				path: path.Join(o.GlusterdWorkdir, "hooks", "1", op, "post", hooks.ScriptName),
				data: []byte(hooks.Script(hookOpts, op)), mode: 0o755, hook: true,
			})
		}
	} else {
		notices = append(notices, fmt.Sprintf("skipped the glusterd hook scripts: %s is not a directory (is glusterfs-server installed? then run glusterbus install again, or glusterbus hooks install)", hookOpts.Workdir))
	}

	// Decide everything before writing anything.
	var steps []step
	var conflicts, stuck int
	for _, t := range targets {
		s, err := decide(root, t, m, marked, o.Force)
		if err != nil {
			return err
		}
		if s.act == actConflict {
			conflicts++
			if !s.forceable {
				stuck++
			}
			fmt.Fprintf(out, "refused %s: %s\n", onDisk(root, t.path), s.why)
		}
		steps = append(steps, s)
	}
	if conflicts > 0 {
		if stuck > 0 {
			return fmt.Errorf("%d file(s) in the way, nothing changed: move them away (--force does not replace hook scripts glusterbus did not write)", conflicts)
		}
		return fmt.Errorf("%d file(s) in the way, nothing changed: move them away, or replace them with --force", conflicts)
	}

	changed, unitChanged, err := apply(root, m, steps, hookOpts, out)
	m.Prefix, m.Group = o.Prefix, o.Group
	if werr := writeManifest(root, m); werr != nil && err == nil {
		err = fmt.Errorf("writing the manifest: %w", werr)
	}
	if err != nil {
		return err
	}

	for _, e := range m.Files {
		if !slices.ContainsFunc(steps, func(s step) bool { return s.path == e.Path }) {
			notices = append(notices, fmt.Sprintf("an earlier install also wrote %s; glusterbus uninstall removes it", onDisk(root, e.Path)))
		}
	}
	notices = append(notices, groupNotices(root, o.Group)...)
	if n := configNotice(root, l.Config, o.Group); n != "" {
		notices = append(notices, n)
	}
	if o.Prefix != "/usr" && o.Prefix != "/usr/local" {
		notices = append(notices, fmt.Sprintf("Cockpit does not read %s unless %s is in its XDG_DATA_DIRS: link the folder into /usr/local/share/cockpit to see the GlusterFS page", onDisk(root, l.Cockpit), path.Join(o.Prefix, "share")))
	}
	if !changed {
		fmt.Fprintln(out, "nothing to do: glusterbus is installed as it should be")
	}
	for _, n := range notices {
		fmt.Fprintln(out, "note:", n)
	}
	if unitChanged {
		daemonReload(root, out)
	}
	fmt.Fprintln(out, "to start it: "+StartCommand)
	return nil
}

// decide says what to do about one target.
func decide(root string, t target, m *Manifest, marked map[string]bool, force bool) (step, error) {
	s := step{target: t, forceable: true}
	file := onDisk(root, t.path)
	fi, err := os.Lstat(file)
	if errors.Is(err, fs.ErrNotExist) {
		s.act = actWrite
		return s, nil
	}
	if err != nil {
		return s, err
	}
	recorded, inManifest := m.entry(t.path)
	regular := fi.Mode().IsRegular()
	var cur []byte
	if regular {
		if cur, err = os.ReadFile(file); err != nil {
			return s, err
		}
	}
	ours := regular && recorded == sum(cur)
	if !inManifest && t.hook {
		ours = marked[file] // written by "glusterbus hooks install"
	}
	if t.hook && !marked[file] {
		s.forceable = false
	}
	same := regular && bytes.Equal(cur, t.data)
	switch {
	case t.keep:
		s.act = actKeep
		if same {
			s.act = actAdopt
			if ours {
				s.act = actNone
			}
		}
	case same && fi.Mode().Perm() == t.mode:
		s.act = actAdopt
		if inManifest && ours {
			s.act = actNone
		}
	case same && ours:
		s.act = actChmod
	case ours:
		s.act = actReplace
	case force && s.forceable:
		s.act = actForce
	default:
		s.act = actConflict
		switch {
		case !regular:
			s.why = "not a regular file, and not written by glusterbus"
		case inManifest:
			s.why = "changed since glusterbus wrote it"
		default:
			s.why = "not written by glusterbus"
		}
	}
	return s, nil
}

// apply carries the steps out and records them in m. changed says whether
// anything on disk changed, unitChanged whether the systemd unit did.
func apply(root string, m *Manifest, steps []step, hookOpts hooks.Options, out io.Writer) (changed, unitChanged bool, err error) {
	var hookSteps []step
	report := func(s step) {
		file := onDisk(root, s.path)
		switch s.act {
		case actNone, actAdopt:
			fmt.Fprintf(out, "unchanged %s\n", file)
		case actWrite:
			fmt.Fprintf(out, "installed %s\n", file)
		case actReplace:
			fmt.Fprintf(out, "updated %s\n", file)
		case actForce:
			fmt.Fprintf(out, "replaced %s (--force)\n", file)
		case actChmod:
			fmt.Fprintf(out, "set mode %v on %s\n", s.mode, file)
		case actKeep:
			fmt.Fprintf(out, "kept %s: it exists, and glusterbus never replaces a configuration\n", file)
		}
	}
	for _, s := range steps {
		if s.hook {
			hookSteps = append(hookSteps, s)
			continue
		}
		switch s.act {
		case actWrite, actReplace, actForce:
			created, err := mkdirAll(root, path.Dir(s.path), 0o755)
			for _, d := range created {
				m.addDir(d)
			}
			if err != nil {
				return changed, unitChanged, err
			}
			if err := atomicfile.Write(onDisk(root, s.path), s.data, s.mode); err != nil {
				return changed, unitChanged, fmt.Errorf("writing %s: %w", onDisk(root, s.path), err)
			}
		case actChmod:
			if err := os.Chmod(onDisk(root, s.path), s.mode); err != nil {
				return changed, unitChanged, err
			}
		}
		switch s.act {
		case actWrite, actReplace, actForce, actChmod:
			changed = true
			unitChanged = unitChanged || path.Base(s.path) == UnitName
			fallthrough
		case actAdopt:
			m.record(s.path, sum(s.data))
		}
		report(s)
	}
	if len(hookSteps) == 0 {
		return changed, unitChanged, nil
	}
	needed := slices.ContainsFunc(hookSteps, func(s step) bool {
		return s.act != actNone && s.act != actAdopt
	})
	if needed {
		// hooks.Install writes all of them, the same content again where
		// it is in place.
		if _, err := hooks.Install(hookOpts); err != nil {
			return changed, unitChanged, err
		}
		changed = true
	}
	for _, s := range hookSteps {
		m.record(s.path, sum(s.data))
		report(s)
	}
	return changed, unitChanged, nil
}

// configNotice warns when an existing configuration names another group
// than the bus policy now allows.
func configNotice(root, conf, group string) string {
	file := onDisk(root, conf)
	c, err := config.Load(file)
	if err != nil {
		return fmt.Sprintf("%s: %v", file, err)
	}
	if c.ManageGroup != group {
		return fmt.Sprintf("%s names manage_group %q, but the bus policy allows group %q: make them agree (and send SIGHUP: systemctl reload glusterbus)", file, c.ManageGroup, group)
	}
	return ""
}

// groupNotices warns when the managing group does not exist: the bus
// ignores a policy for an unknown group.
func groupNotices(root, group string) []string {
	if group == "" {
		return []string{"no group given: only root may change GlusterFS through glusterbus"}
	}
	var exists bool
	if root == "/" {
		_, err := user.LookupGroup(group)
		exists = err == nil
	} else {
		f, err := os.Open(onDisk(root, "/etc/group"))
		if err != nil {
			return nil // a staged tree: the target system decides
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if name, _, _ := strings.Cut(sc.Text(), ":"); name == group {
				exists = true
			}
		}
	}
	if exists {
		return nil
	}
	return []string{fmt.Sprintf("group %q does not exist: create it (groupadd --system %s), add the users who may change GlusterFS, then reload the bus (systemctl reload dbus) so that its policy sees the group", group, group)}
}

// systemdRuns says whether root is the running system and systemd manages it.
func systemdRuns(root string) bool {
	if root != "/" {
		return false
	}
	_, err := os.Stat("/run/systemd/system")
	return err == nil
}

// daemonReload makes systemd see a changed unit, where it runs.
func daemonReload(root string, out io.Writer) {
	if !systemdRuns(root) {
		return
	}
	if b, err := exec.Command("systemctl", "daemon-reload").CombinedOutput(); err != nil {
		fmt.Fprintf(out, "note: systemctl daemon-reload failed: %v: %s\n", err, bytes.TrimSpace(b))
		return
	}
	fmt.Fprintln(out, "ran systemctl daemon-reload")
}

func cleanRoot(root string) string {
	if root == "" {
		return "/"
	}
	if abs, err := filepath.Abs(root); err == nil {
		return abs
	}
	return filepath.Clean(root)
}

// mkdirAll creates dir under root, with mode perm, and its missing parents,
// with mode 0755, and returns those it created, parents first.
func mkdirAll(root, dir string, perm fs.FileMode) ([]string, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	var missing []string
	for d := dir; d != "/"; d = path.Dir(d) {
		_, err := os.Stat(onDisk(root, d))
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		missing = append(missing, d)
	}
	var created []string
	for _, d := range slices.Backward(missing) {
		mode := fs.FileMode(0o755)
		if d == dir {
			mode = perm
		}
		if err := os.Mkdir(onDisk(root, d), mode); err != nil {
			if errors.Is(err, fs.ErrExist) {
				continue
			}
			return created, err
		}
		created = append(created, d)
		if err := os.Chmod(onDisk(root, d), mode); err != nil {
			return created, err
		}
	}
	return created, nil
}
