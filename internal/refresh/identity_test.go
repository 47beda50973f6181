package refresh

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/gluster"
	"github.com/glusterbus/glusterbus/internal/state"
)

// An identity field that cannot be read never hides the cluster: the
// volumes and peers read are shown, the fields read are kept, LastError
// says what failed, and the next full read tries the field again.
func TestIdentityFieldFailureKeepsCluster(t *testing.T) {
	// What `volume get all cluster.op-version` answers on a release that
	// does not know "all".
	data, err := os.ReadFile(filepath.Join(testdata, "r3.7-error-volume-get-null-errstr.xml"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := gluster.ParseOpVersion(data)
	if err == nil {
		t.Fatalf("op-version %d read from a failure", v)
	}
	shown := func(e *env) {
		t.Helper()
		if got := e.model.VolumeNames(); len(got) != len(allVolumes) {
			t.Errorf("volumes %v, want %v", got, allVolumes)
		}
		if got := e.model.Peers(); len(got) != 2 {
			t.Errorf("peers %+v, want nodes 2 and 3", got)
		}
	}

	for _, tc := range []struct {
		call, what string
		fail       error
		want       func(g state.Glusterd) bool // the fields read
	}{
		{opVersionCall, "op-version", err,
			func(g state.Glusterd) bool { return g.UUID == node1 && g.OpVersion == 0 && g.Version == "10.3" }},
		{uuidCall, "glusterd UUID", &gluster.CLIError{Op: "pool list", ExitCode: 1, Message: "timed out"},
			func(g state.Glusterd) bool { return g.UUID == "" && g.OpVersion == 100000 && g.Version == "10.3" }},
		{versionCall, "version", errors.New(`gluster: unexpected --version output "glusterfs"`),
			func(g state.Glusterd) bool { return g.UUID == node1 && g.OpVersion == 100000 && g.Version == "" }},
	} {
		t.Run(tc.what, func(t *testing.T) {
			e := newEnv(t, Options{QuietPeriod: time.Hour})
			e.src.fail(tc.call, tc.fail)
			e.all()
			shown(e)
			g := e.model.Glusterd()
			if !g.Running || !tc.want(g) || !strings.HasPrefix(g.LastError, tc.what+": ") ||
				!strings.Contains(g.LastError, tc.fail.Error()) {
				t.Errorf("glusterd %+v", g)
			}
			if b, ok := e.model.Volume("rep3"); !ok || len(b.Bricks) != 3 || !b.Bricks[0].Online {
				t.Errorf("rep3 %+v", b)
			}

			// The next full read reads the field again and clears the error.
			e.all()
			if g := e.model.Glusterd(); g.LastError != "" || g.UUID != node1 || g.OpVersion != 100000 || g.Version != "10.3" {
				t.Errorf("after a second read: %+v", g)
			}
			if n := e.src.count(tc.call); n != 2 {
				t.Errorf("%s called %d times, want 2", tc.call, n)
			}
		})
	}

	t.Run("fields read before are kept", func(t *testing.T) {
		e := newEnv(t, Options{QuietPeriod: time.Hour})
		e.all()
		e.r.RefreshIdentity()
		e.src.fail(opVersionCall, err)
		e.src.fail(versionCall, errors.New("no gluster binary"))
		e.all()
		shown(e)
		g := e.model.Glusterd()
		if g.UUID != node1 || g.OpVersion != 100000 || g.Version != "10.3" ||
			!strings.Contains(g.LastError, "op-version: ") || !strings.Contains(g.LastError, "; version: no gluster binary") {
			t.Errorf("glusterd %+v", g)
		}
	})

	t.Run("unreachable glusterd still fails the read", func(t *testing.T) {
		e := newEnv(t, Options{QuietPeriod: time.Hour})
		e.all()
		e.r.RefreshIdentity()
		e.src.fail(uuidCall, noGlusterdErr)
		if err := e.r.All(e.ctx); !errors.Is(err, gluster.ErrNoGlusterd) {
			t.Fatalf("All = %v, want ErrNoGlusterd", err)
		}
		if n := e.src.count(opVersionCall); n != 1 {
			t.Errorf("op-version read %d times after glusterd was unreachable, want 1", n)
		}
		if g := e.model.Glusterd(); g.Running || !strings.Contains(g.LastError, "Connection failed") {
			t.Errorf("glusterd %+v", g)
		}
		shown(e)
	})
}
