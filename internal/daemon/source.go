package daemon

import (
	"log/slog"

	"github.com/glusterbus/glusterbus/internal/gluster"
	"github.com/glusterbus/glusterbus/internal/glusterd"
)

// readSource is how the daemon reads the cluster: over glusterd's socket
// when Config.GlusterdSocket names one, else, and whenever the socket
// cannot answer, through the CLI.
func readSource(cfg Config, cli *gluster.CLI, log *slog.Logger) *glusterd.Source {
	src := &glusterd.Source{CLI: cli, Log: log}
	if cfg.GlusterdSocket != "" {
		src.RPC = &glusterd.Client{Socket: cfg.GlusterdSocket, Timeout: cfg.CLITimeout}
	}
	return src
}
