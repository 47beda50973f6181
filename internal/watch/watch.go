// Package watch turns changes in glusterd's working directory into refresh
// triggers. glusterd rewrites <workdir>/vols/<vol>/ and <workdir>/peers/ on
// every node of the cluster when any node changes a volume or the pool, so
// watching them sees changes made anywhere, without taking any lock.
package watch

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/fsnotify/fsnotify"
)

// Triggers are what a change leads to.
type Triggers struct {
	Volume func(name string) // something under vols/<name> changed
	Peers  func()            // something under peers/ changed
}

// Run watches workdir until ctx ends. Missing directories are created by
// glusterd later; Run watches workdir itself to notice them.
func Run(ctx context.Context, workdir string, t Triggers, log *slog.Logger) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	vols := filepath.Join(workdir, "vols")
	peers := filepath.Join(workdir, "peers")
	add := func(dir string) {
		if err := w.Add(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			log.Warn("cannot watch glusterd directory", "dir", dir, "err", err)
		}
	}
	add(workdir)
	add(vols)
	add(peers)
	if entries, err := os.ReadDir(vols); err == nil {
		for _, e := range entries {
			if e.IsDir() {
				add(filepath.Join(vols, e.Name()))
			}
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			// An overflow loses events: catch up with a peers read; the
			// periodic reconcile covers volumes.
			log.Warn("watching glusterd's directory", "err", err)
			t.Peers()
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			dir, base := filepath.Dir(ev.Name), filepath.Base(ev.Name)
			switch {
			case ev.Name == vols || ev.Name == peers:
				if ev.Has(fsnotify.Create) {
					add(ev.Name)
				}
			case dir == peers:
				t.Peers()
			case dir == vols:
				if ev.Has(fsnotify.Create) {
					add(ev.Name)
				}
				t.Volume(base)
			case filepath.Dir(dir) == vols && !strings.HasPrefix(base, "."):
				t.Volume(filepath.Base(dir))
			}
		}
	}
}
