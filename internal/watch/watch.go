// Package watch turns changes in glusterd's working directory into refresh
// triggers. glusterd rewrites <workdir>/vols/<vol>/ and <workdir>/peers/ on
// every node of the cluster when any node changes a volume or the pool, so
// watching them sees changes made anywhere, without taking any lock. It
// rewrites <workdir>/glusterd.info when its identity changes, e.g. the
// operating-version after `volume set all cluster.op-version`.
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
	Volume   func(name string) // something under vols/<name> changed
	Peers    func()            // something under peers/ changed
	Identity func()            // glusterd.info changed
	All      func()            // changes were lost (an overflow): re-read everything
	// GeoRep: something under geo-replication/ changed (a session made or
	// deleted, gsyncd's status files); nil to not watch it.
	GeoRep func()
}

// lost fires All, or without it every other trigger but Volume, which
// needs a name.
func (t Triggers) lost() {
	switch {
	case t.All != nil:
		t.All()
	case t.Identity != nil:
		t.Identity()
		t.Peers()
	default:
		t.Peers()
	}
	if t.GeoRep != nil {
		t.GeoRep()
	}
}

// Run watches workdir until ctx ends. Missing directories are created by
// glusterd later; Run watches workdir itself to notice them.
func Run(ctx context.Context, workdir string, t Triggers, log *slog.Logger) error {
	w, err := start(workdir, t, log)
	if err != nil {
		return err
	}
	defer w.fs.Close()
	w.loop(ctx)
	return nil
}

type watcher struct {
	fs         *fsnotify.Watcher
	t          Triggers
	log        *slog.Logger
	vols       string
	peers      string
	glusterdID string // glusterd.info
	geoRep     string // geo-replication/
}

// start watches what exists of workdir, vols/, every vols/<name>/ and peers/.
func start(workdir string, t Triggers, log *slog.Logger) (*watcher, error) {
	fs, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	w := &watcher{fs: fs, t: t, log: log,
		vols:       filepath.Join(workdir, "vols"),
		peers:      filepath.Join(workdir, "peers"),
		glusterdID: filepath.Join(workdir, "glusterd.info"),
		geoRep:     filepath.Join(workdir, "geo-replication"),
	}
	w.add(workdir)
	w.add(w.vols)
	w.add(w.peers)
	if entries, err := os.ReadDir(w.vols); err == nil {
		for _, e := range entries {
			if e.IsDir() {
				w.add(filepath.Join(w.vols, e.Name()))
			}
		}
	}
	if t.GeoRep != nil {
		w.addGeoRep()
	}
	return w, nil
}

// addGeoRep watches geo-replication/ and its session directories, where
// glusterd makes and removes sessions and gsyncd writes its workers'
// status.
func (w *watcher) addGeoRep() {
	w.add(w.geoRep)
	if entries, err := os.ReadDir(w.geoRep); err == nil {
		for _, e := range entries {
			if e.IsDir() {
				w.add(filepath.Join(w.geoRep, e.Name()))
			}
		}
	}
}

func (w *watcher) add(dir string) {
	if err := w.fs.Add(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		w.log.Warn("cannot watch glusterd directory", "dir", dir, "err", err)
	}
}

func (w *watcher) loop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case err, ok := <-w.fs.Errors:
			if !ok {
				return
			}
			if !errors.Is(err, fsnotify.ErrEventOverflow) {
				// E.g. EINVAL from dropping the watch of a volume's
				// directory glusterd moved away at delete: the kernel had
				// dropped it already. Nothing is lost.
				w.log.Debug("watching glusterd's directory", "err", err)
				continue
			}
			// An overflow loses events, of volumes, peers and identity
			// alike: catch up with one full read.
			w.log.Warn("watching glusterd's directory; re-reading everything", "err", err)
			w.t.lost()
		case ev, ok := <-w.fs.Events:
			if !ok {
				return
			}
			w.handle(ev)
		}
	}
}

func (w *watcher) handle(ev fsnotify.Event) {
	dir, base := filepath.Dir(ev.Name), filepath.Base(ev.Name)
	switch {
	case ev.Name == w.vols || ev.Name == w.peers:
		if ev.Has(fsnotify.Create) {
			w.add(ev.Name)
		}
	case ev.Name == w.glusterdID:
		// glusterd writes glusterd.info.tmp and renames it over.
		if w.t.Identity != nil {
			w.t.Identity()
		}
	case dir == w.peers:
		w.t.Peers()
	case dir == w.vols:
		if ev.Has(fsnotify.Create) {
			w.add(ev.Name)
		}
		w.t.Volume(base)
	case filepath.Dir(dir) == w.vols && !strings.HasPrefix(base, "."):
		w.t.Volume(filepath.Base(dir))
	case w.t.GeoRep != nil && (ev.Name == w.geoRep || dir == w.geoRep || filepath.Dir(dir) == w.geoRep):
		if ev.Has(fsnotify.Create) && ev.Name == w.geoRep {
			w.addGeoRep()
		} else if ev.Has(fsnotify.Create) && dir == w.geoRep {
			if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() {
				w.add(ev.Name) // a session directory
			}
		}
		w.t.GeoRep()
	}
}
