// Package daemon wires the parts of `glusterbus serve` together: the gluster
// CLI as the source, the state model, the D-Bus exporter as its sink, and
// the triggers (hook calls over D-Bus, inotify, the periodic reconcile).
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/exporter"
	"github.com/glusterbus/glusterbus/internal/gluster"
	"github.com/glusterbus/glusterbus/internal/refresh"
	"github.com/glusterbus/glusterbus/internal/state"
	"github.com/glusterbus/glusterbus/internal/watch"
)

// DefaultWorkdir is glusterd's working directory when gluster cannot say.
const DefaultWorkdir = "/var/lib/glusterd"

// Config is what `glusterbus serve` is told.
type Config struct {
	Bus             string        // "system", "session" or a D-Bus address
	Gluster         []string      // the gluster command prefix
	GlusterdWorkdir string        // "" asks `gluster system:: getwd`
	StateDir        string        // our own state (the event journal)
	Interval        time.Duration // periodic reconcile
	QuietPeriod     time.Duration // see refresh.Options
	CLITimeout      time.Duration
	Logger          *slog.Logger
}

// callTimeout bounds one D-Bus method call's work.
const callTimeout = 2 * time.Minute

// Run serves until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Logger
	cli := &gluster.CLI{Command: cfg.Gluster, Timeout: cfg.CLITimeout}
	workdir, err := resolveWorkdir(ctx, cli, cfg.GlusterdWorkdir, log)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o750); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}

	exp := exporter.New(ctx, log)
	model := state.NewModel(exp)
	ref := refresh.New(ctx, cli, model, refresh.Options{
		QuietPeriod:  cfg.QuietPeriod,
		Logger:       log,
		GlusterdUnit: glusterdUnitState,
	})
	registerManagerMethods(exp, ref)

	conn, err := exp.Dial(cfg.Bus)
	if err != nil {
		return err
	}
	defer conn.Close()

	// Read the cluster before taking the name, so the first client that sees
	// the name sees the whole tree. A failure leaves an empty tree with
	// Glusterd.LastError set; the reconcile tries again.
	if err := ref.All(ctx); err != nil {
		log.Warn("initial read of the cluster failed; serving what is known", "err", err)
	}
	if err := exp.Claim(conn); err != nil {
		return err
	}
	log.Info("serving", "bus", cfg.Bus, "name", exporter.BusName, "glusterd_workdir", workdir,
		"volumes", len(model.VolumeNames()))

	go ref.Run(ctx, cfg.Interval)
	go func() {
		err := watch.Run(ctx, workdir, watch.Triggers{Volume: ref.TriggerVolume, Peers: ref.TriggerPeers}, log)
		if err != nil {
			log.Warn("not watching glusterd's directory", "err", err)
		}
	}()
	<-ctx.Done()
	log.Info("stopping")
	return nil
}

// resolveWorkdir returns the given directory, else what glusterd says, else
// the default.
func resolveWorkdir(ctx context.Context, cli *gluster.CLI, given string, log *slog.Logger) (string, error) {
	if given != "" {
		if _, err := os.Stat(given); err != nil {
			return "", fmt.Errorf("glusterd working directory: %w", err)
		}
		return given, nil
	}
	wd, err := cli.Workdir(ctx)
	if err != nil || wd == "" {
		log.Warn("cannot ask glusterd for its working directory; using the default", "default", DefaultWorkdir, "err", err)
		return DefaultWorkdir, nil
	}
	return wd, nil
}

// registerManagerMethods implements org.storaged.Storaged.Manager.GlusterFS.
func registerManagerMethods(exp *exporter.Exporter, ref *refresh.Refresher) {
	opts := map[string]dbus.Variant{}
	exp.Handle(exporter.ManagerInterface, "Reload", &exporter.Method{
		In: []any{opts},
		Handle: func(c *exporter.Call) ([]any, error) {
			ctx, cancel := context.WithTimeout(c.Ctx, callTimeout)
			defer cancel()
			ref.RefreshIdentity()
			return nil, glusterError(ref.All(ctx))
		},
	})
	exp.Handle(exporter.ManagerInterface, "RefreshVolume", &exporter.Method{
		In: []any{"", opts},
		Handle: func(c *exporter.Call) ([]any, error) {
			name := c.Args[0].(string)
			if name == "" {
				return nil, exporter.Errorf(exporter.ErrorInvalidArgument, "empty volume name")
			}
			ctx, cancel := context.WithTimeout(c.Ctx, callTimeout)
			defer cancel()
			return nil, glusterError(ref.Volume(ctx, name))
		},
	})
}

// glusterError names a refresh error for D-Bus, keeping gluster's message.
func glusterError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gluster.ErrNoVolume):
		return &exporter.Error{Name: exporter.ErrorNotFound, Msg: err.Error(), Err: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &exporter.Error{Name: exporter.ErrorTimedout, Msg: err.Error(), Err: err}
	}
	return &exporter.Error{Name: exporter.ErrorFailed, Msg: err.Error(), Err: err}
}
