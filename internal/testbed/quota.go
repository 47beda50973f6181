package testbed

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// QuotaLock serializes the tests that turn quota on, across test binaries:
// GlusterFS fixes quotad's socket at /var/run/gluster/quotad.socket, so the
// quotad of one cluster would take it from another's. Call it before
// Start: it is released when the test ends, after the cluster has stopped.
func QuotaLock(t testing.TB) {
	t.Helper()
	if err := os.MkdirAll(LockDir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(LockDir, "quotad.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
}
