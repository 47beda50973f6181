package daemon_test

import (
	"bufio"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/daemon"
	"github.com/glusterbus/glusterbus/internal/exporter"
	"github.com/glusterbus/glusterbus/internal/testbus"
)

// volumeSecrets reads the credentials glusterd keeps for a volume.
func volumeSecrets(t *testing.T, workdir, vol string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(workdir, "vols", vol, "info"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && (k == "username" || k == "password") && v != "" {
			out = append(out, v)
		}
	}
	if len(out) != 2 {
		t.Fatalf("expected a username and a password in %s's info, got %d", vol, len(out))
	}
	return out
}

// TestSecretsStayHidden: a volume's credentials from glusterd's store never
// reach the bus, the journal or the log, whatever happens to the volume.
func TestSecretsStayHidden(t *testing.T) {
	logs := &testbus.Buffer{}
	h := start(t, 1, nil, func(cfg *daemon.Config) {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	n := h.cluster.Nodes[0]
	n.Gluster(t, "volume", "create", "sec", n.Addr+":"+h.cluster.BrickDir(1, "sec"), "force")
	n.Gluster(t, "volume", "start", "sec")
	n.Gluster(t, "volume", "set", "sec", "auth.allow", "127.0.0.1")
	h.waitFor("the volume up and its option set", 30*time.Second, func() bool {
		opts, _ := h.prop(volPath("sec"), exporter.VolumeInterface, "Options").(map[string]string)
		return h.prop(volPath("sec"), exporter.VolumeInterface, "Health") == "up" && opts["auth.allow"] != ""
	})
	h.waitFor("VOLUME_SET journaled", 30*time.Second, func() bool {
		for _, e := range h.getEvents(0) {
			if e.Name == "VOLUME_SET" {
				return true
			}
		}
		return false
	})
	secrets := volumeSecrets(t, n.Workdir, "sec")

	bus := fmt.Sprintf("%v", h.objects())
	var journal strings.Builder
	for _, e := range h.getEvents(0) {
		fmt.Fprintf(&journal, "%v\n", e)
		for k, v := range e.Fields {
			fmt.Fprintf(&journal, "%s=%s\n", k, v)
		}
	}
	if !strings.Contains(bus, "auth.allow") || !strings.Contains(journal.String(), "VOLUME_SET") {
		t.Fatal("the test looks at the wrong data: the option set is not there")
	}
	for _, s := range secrets {
		for where, text := range map[string]string{"the bus": bus, "the journal": journal.String(), "the log": logs.String()} {
			if strings.Contains(text, s) {
				t.Errorf("a volume credential appears in %s", where)
			}
		}
	}
}
