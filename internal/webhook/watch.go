package webhook

import (
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// settleDelay lets a burst of changes to the file (a write, then a rename)
// end before it is read.
const settleDelay = 50 * time.Millisecond

// fileSig identifies a version of the file.
type fileSig struct {
	exists           bool
	dev, ino         uint64
	size             int64
	mtimeNs, ctimeNs int64
}

func statFile(path string) fileSig {
	fi, err := os.Stat(path)
	if err != nil {
		return fileSig{}
	}
	s := fileSig{exists: true, size: fi.Size(), mtimeNs: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.dev, s.ino = uint64(st.Dev), st.Ino
		s.ctimeNs = st.Ctim.Nano()
	}
	return s
}

// fileWatcher reports changes of one file by watching its directory, which
// survives the file being replaced by rename. If the directory cannot be
// watched (missing, or no inotify), ensure tries again; the Deliverer's
// periodic check covers the time in between.
type fileWatcher struct {
	path, dir string
	log       *slog.Logger
	w         *fsnotify.Watcher
	changed   chan struct{}

	mu       sync.Mutex
	watching bool // the directory
	parent   bool // its parent, while the directory does not exist
	wg       sync.WaitGroup
}

func newFileWatcher(path string, log *slog.Logger) *fileWatcher {
	path = filepath.Clean(path)
	fw := &fileWatcher{path: path, dir: filepath.Dir(path), log: log, changed: make(chan struct{}, 1)}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		log.Warn("webhook: cannot watch the webhooks file; checking it periodically instead", "err", err)
		return fw
	}
	fw.w = w
	fw.ensure()
	fw.wg.Add(1)
	go fw.loop()
	return fw
}

// ensure (re)starts watching the directory if it is not watched. While it
// does not exist, its parent is watched for its creation (gluster-eventsapi
// creates <workdir>/events with the first webhook).
func (fw *fileWatcher) ensure() {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if fw.w == nil || fw.watching {
		return
	}
	if err := fw.w.Add(fw.dir); err == nil {
		fw.watching = true
		if fw.parent {
			_ = fw.w.Remove(filepath.Dir(fw.dir))
			fw.parent = false
		}
		fw.notify()
		return
	}
	if !fw.parent && fw.w.Add(filepath.Dir(fw.dir)) == nil {
		fw.parent = true
	}
}

// lost notes that the directory is no longer watched.
func (fw *fileWatcher) lost() {
	fw.mu.Lock()
	fw.watching = false
	fw.mu.Unlock()
	_ = fw.w.Remove(fw.dir)
}

func (fw *fileWatcher) notify() {
	select {
	case fw.changed <- struct{}{}:
	default:
	}
}

func (fw *fileWatcher) loop() {
	defer fw.wg.Done()
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()
	for {
		select {
		case ev, ok := <-fw.w.Events:
			if !ok {
				return
			}
			name := filepath.Clean(ev.Name)
			switch {
			case name == fw.path:
				settle.Reset(settleDelay)
			case name == fw.dir && ev.Has(fsnotify.Create):
				fw.ensure()
				settle.Reset(settleDelay)
			case name == fw.dir && ev.Has(fsnotify.Remove|fsnotify.Rename):
				fw.lost()
				fw.ensure()
				settle.Reset(settleDelay)
			}
		case err, ok := <-fw.w.Errors:
			if !ok {
				return
			}
			// An overflow may have hidden a change.
			fw.log.Debug("webhook: watching the webhooks file", "err", err)
			settle.Reset(settleDelay)
		case <-settle.C:
			fw.notify()
		}
	}
}

func (fw *fileWatcher) close() {
	if fw.w != nil {
		fw.w.Close()
		fw.wg.Wait()
	}
}
