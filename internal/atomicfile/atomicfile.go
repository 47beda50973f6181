// Package atomicfile replaces files whole: readers (glusterd running a hook
// script, gluster-eventsapi reading webhooks.json) see the old or the new
// content, never a half-written file, also across a crash.
package atomicfile

import (
	"io/fs"
	"os"
	"path/filepath"
)

// Write writes data with mode to a temporary file beside path, syncs it,
// renames it to path and syncs the directory. The temporary name starts
// with "." and ends in ".tmp-*", so nothing that runs or reads files by
// name in that directory picks it up.
func Write(path string, data []byte, mode fs.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Chmod(mode); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
