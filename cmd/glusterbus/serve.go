package main

import (
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/glusterbus/glusterbus/internal/daemon"
	"github.com/glusterbus/glusterbus/internal/gluster"
)

func newServe() *cobra.Command {
	var (
		cfg     daemon.Config
		command string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Export GlusterFS state on D-Bus as org.storaged.Storaged and keep it current",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			words, err := gluster.ParseCommand(command)
			if err != nil {
				return err
			}
			cfg.Gluster = words
			cfg.Logger = slog.Default()
			return daemon.Run(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	addBusFlag(cmd, &cfg.Bus)
	f.StringVar(&command, "gluster", "gluster", "the gluster CLI command to run, as a prefix (e.g. \"gluster --glusterd-sock=/path/gd.sock\")")
	f.StringVar(&cfg.GlusterdWorkdir, "glusterd-workdir", "", "glusterd's working directory (default: ask 'gluster system:: getwd', else "+daemon.DefaultWorkdir+")")
	f.StringVar(&cfg.StateDir, "state-dir", "/var/lib/glusterbus", "where glusterbus keeps its own state")
	f.DurationVar(&cfg.Interval, "interval", 10*time.Second, "periodic reconcile interval")
	f.DurationVar(&cfg.QuietPeriod, "quiet-period", 2*time.Second, "how long a volume must see no change before 'volume status' (which takes its lock) may run")
	f.DurationVar(&cfg.CLITimeout, "cli-timeout", gluster.DefaultTimeout, "timeout of one gluster CLI call")
	return cmd
}
