package install

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
)

// UninstallOptions says what to uninstall.
type UninstallOptions struct {
	// Root is the Root the install was made with.
	Root string
	// Force uninstalls even while glusterbus.service is enabled.
	Force bool
	// Out receives one line per file and the notices; nil discards them.
	Out io.Writer
}

// Uninstall removes the files the manifest records that are unchanged since
// install wrote them, then the directories install created that are left
// empty. A changed file stays, with a notice, and stays in the manifest.
func Uninstall(o UninstallOptions) error {
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	root := cleanRoot(o.Root)
	m, err := ReadManifest(root)
	if err != nil {
		return err
	}
	if m == nil {
		fmt.Fprintf(out, "nothing to uninstall: there is no %s\n", onDisk(root, LayoutFor("/").Manifest))
		return nil
	}
	if enabled := enabledLinks(root); len(enabled) > 0 && !o.Force {
		return fmt.Errorf("%s is enabled (%s): run systemctl disable --now glusterbus first, or uninstall with --force", UnitName, enabled[0])
	}

	var unitRemoved bool
	for _, e := range slices.Backward(slices.Clone(m.Files)) {
		file := onDisk(root, e.Path)
		fi, err := os.Lstat(file)
		if errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(out, "gone %s (already removed)\n", file)
			m.forget(e.Path)
			continue
		}
		if err != nil {
			return err
		}
		var same bool
		if fi.Mode().IsRegular() {
			data, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			same = sum(data) == e.SHA256
		}
		if !same {
			fmt.Fprintf(out, "left %s: changed since glusterbus wrote it\n", file)
			continue
		}
		if err := os.Remove(file); err != nil {
			return err
		}
		fmt.Fprintf(out, "removed %s\n", file)
		m.forget(e.Path)
		unitRemoved = unitRemoved || path.Base(e.Path) == UnitName
	}

	manifest := onDisk(root, LayoutFor("/").Manifest)
	if len(m.Files) == 0 {
		if err := os.Remove(manifest); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		fmt.Fprintf(out, "removed %s\n", manifest)
	}
	// The directories install created, once empty.
	for _, d := range slices.Backward(slices.Clone(m.Dirs)) {
		if os.Remove(onDisk(root, d)) == nil {
			fmt.Fprintf(out, "removed %s/\n", onDisk(root, d))
			m.Dirs = slices.DeleteFunc(m.Dirs, func(x string) bool { return x == d })
		}
	}
	if len(m.Files) > 0 {
		if err := writeManifest(root, m); err != nil {
			return err
		}
		fmt.Fprintf(out, "kept %s: it lists the files left\n", manifest)
	}
	if unitRemoved {
		daemonReload(root, out)
	}
	return nil
}

// enabledLinks are the symbolic links that enable the unit.
func enabledLinks(root string) []string {
	links, _ := filepath.Glob(onDisk(root, "/etc/systemd/system/*.wants/"+UnitName))
	return links
}
