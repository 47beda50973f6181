// Package hooks installs glusterd post-operation hook scripts that tell the
// glusterbus daemon to refresh, parses the arguments glusterd passes to them,
// and sends the refresh request over D-Bus.
//
// glusterd runs every executable whose name starts with "S" in
// <workdir>/hooks/1/<op>/post/ after a volume operation, on every node that
// takes part. The script installed there only starts
//
//	<binary> hook --bus <bus> <op> -- <glusterd's arguments>
//
// in the background and exits 0, so glusterd is never delayed or failed by
// it; the parsing happens in Go (ParseArgs) and the D-Bus call in Notify.
package hooks

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/glusterbus/glusterbus/internal/atomicfile"
)

// Ops are the volume operations a script is installed for.
var Ops = []string{"create", "start", "stop", "delete", "set", "reset", "add-brick", "remove-brick"}

// ScriptName is the file name of our script in every op's post directory.
// glusterd runs the scripts of a directory in name order; 99 puts ours last.
const ScriptName = "S99glusterbus.sh"

// Marker is the line that identifies a file as ours. Install rewrites and
// Uninstall removes only files that carry it.
const Marker = "# glusterbus-hook: written by glusterbus; it rewrites and removes this file"

// maxScan is how much of a file is searched for the marker.
const maxScan = 64 << 10

// Options says where to install the scripts and what they run.
type Options struct {
	Workdir string // glusterd's working directory (/var/lib/glusterd)
	Binary  string // absolute path of the glusterbus binary the scripts run
	Bus     string // "system", "session" or a D-Bus address, passed to the hook command
}

// postDir is the directory of op's post-operation hooks.
func postDir(workdir, op string) string {
	return filepath.Join(workdir, "hooks", "1", op, "post")
}

// Script returns the content of the hook script for op.
func Script(o Options, op string) string {
	return "#!/bin/sh\n" +
		Marker + "\n" +
		"# glusterd runs this after \"gluster volume " + op + "\"; it asks the glusterbus\n" +
		"# daemon to refresh, in the background, and never fails the operation.\n" +
		shQuote(o.Binary) + " hook --bus " + shQuote(o.Bus) + " " + shQuote(op) +
		` -- "$@" </dev/null >/dev/null 2>&1 &` + "\n" +
		"exit 0\n"
}

// shQuote quotes s as one word for a POSIX shell.
func shQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func (o Options) validate() error {
	switch {
	case o.Workdir == "":
		return errors.New("hooks: no glusterd working directory given")
	case o.Binary == "":
		return errors.New("hooks: no binary given")
	case !filepath.IsAbs(o.Binary):
		return fmt.Errorf("hooks: binary %q is not an absolute path", o.Binary)
	case o.Bus == "":
		return errors.New("hooks: no bus given")
	case strings.ContainsRune(o.Binary, 0) || strings.ContainsRune(o.Bus, 0):
		return errors.New("hooks: binary or bus contains a NUL byte")
	}
	fi, err := os.Stat(o.Workdir)
	if err != nil {
		return fmt.Errorf("hooks: glusterd working directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("hooks: glusterd working directory %s is not a directory", o.Workdir)
	}
	return nil
}

// Install writes <Workdir>/hooks/1/<op>/post/S99glusterbus.sh for every op
// of Ops, creating missing directories. It rewrites scripts it wrote before
// and never touches any other file: if a file without our marker has our
// name, Install writes nothing and returns an error naming that file. Each
// script is written to a temporary file and renamed into place. written lists
// the scripts written, in the order of Ops.
func Install(o Options) (written []string, err error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	// Check every target first, so a foreign file stops the install before
	// anything is written.
	for _, op := range Ops {
		path := filepath.Join(postDir(o.Workdir, op), ScriptName)
		ours, err := isOurs(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("hooks: %w", err)
		}
		if !ours {
			return nil, fmt.Errorf("hooks: %s exists and was not written by glusterbus; remove or rename it to install", path)
		}
	}
	for _, op := range Ops {
		dir := postDir(o.Workdir, op)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return written, fmt.Errorf("hooks: %w", err)
		}
		path := filepath.Join(dir, ScriptName)
		if err := atomicfile.Write(path, []byte(Script(o, op)), 0o755); err != nil {
			return written, fmt.Errorf("hooks: writing %s: %w", path, err)
		}
		written = append(written, path)
	}
	return written, nil
}

// isOurs reports whether path is a regular file that carries Marker. A
// symbolic link, directory or other special file is never ours.
func isOurs(path string) (bool, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return false, err
	}
	if !fi.Mode().IsRegular() {
		return false, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, maxScan))
	sc.Buffer(make([]byte, 0, 4096), maxScan)
	for sc.Scan() {
		if string(bytes.TrimRight(sc.Bytes(), "\r")) == Marker {
			return true, nil
		}
	}
	// A line longer than maxScan or a read error: not recognisably ours.
	return false, nil
}

// Installed lists our scripts (files carrying Marker) in the pre and post
// hook directories of every op under workdir, sorted. A workdir without
// hooks has none.
func Installed(workdir string) ([]string, error) {
	if workdir == "" {
		return nil, errors.New("hooks: no glusterd working directory given")
	}
	// Every op directory, not only those of Ops, so that scripts of an
	// older or newer list of ops are found too.
	opDirs, err := os.ReadDir(filepath.Join(workdir, "hooks", "1"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("hooks: %w", err)
	}
	var ours []string
	for _, od := range opDirs {
		if !od.IsDir() {
			continue
		}
		for _, phase := range []string{"pre", "post"} {
			dir := filepath.Join(workdir, "hooks", "1", od.Name(), phase)
			entries, err := os.ReadDir(dir)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("hooks: %w", err)
			}
			for _, e := range entries {
				path := filepath.Join(dir, e.Name())
				ok, err := isOurs(path)
				if err != nil && !errors.Is(err, os.ErrNotExist) {
					return nil, fmt.Errorf("hooks: %w", err)
				}
				if ok {
					ours = append(ours, path)
				}
			}
		}
	}
	sort.Strings(ours)
	return ours, nil
}

// Uninstall removes exactly the files Installed lists and returns them.
func Uninstall(workdir string) (removed []string, err error) {
	ours, err := Installed(workdir)
	if err != nil {
		return nil, err
	}
	for _, path := range ours {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return removed, fmt.Errorf("hooks: %w", err)
		}
		removed = append(removed, path)
	}
	return removed, nil
}
