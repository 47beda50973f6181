package main

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/glusterbus/glusterbus/internal/config"
	"github.com/glusterbus/glusterbus/internal/daemon"
	"github.com/glusterbus/glusterbus/internal/gluster"
	"github.com/glusterbus/glusterbus/internal/glusterd"
	"github.com/glusterbus/glusterbus/internal/nativeevents"
	"github.com/glusterbus/glusterbus/internal/natsstream"
)

func newServe() *cobra.Command {
	var (
		cfg          daemon.Config
		command      string
		eventsConfig string
		noEvents     bool
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
			if !cmd.Flags().Changed("glusterd-socket") {
				cfg.GlusterdSocket = glusterdSocket(words)
			}
			cfg.Logger = slog.Default()
			cfg.LogLevel = logLevel
			switch {
			case noEvents:
				cfg.EventsPort = -1
			case !cmd.Flags().Changed("events-port"):
				if cfg.EventsPort, err = nativeevents.ReadConfigPort(eventsConfig); err != nil {
					return err
				}
			case cfg.EventsPort <= 0:
				return fmt.Errorf("--events-port must be a port number (use --no-events to disable native events)")
			}
			if cfg.NATS.Embedded && len(cfg.NATS.URLs) > 0 {
				return fmt.Errorf("--nats and --nats-embedded exclude each other")
			}
			return daemon.Run(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	addBusFlag(cmd, &cfg.Bus)
	f.StringVar(&command, "gluster", "gluster", "the gluster CLI command to run, as a prefix (e.g. \"gluster --glusterd-sock=/path/gd.sock\")")
	f.StringVar(&cfg.GlusterdWorkdir, "glusterd-workdir", "", "glusterd's working directory (default: ask 'gluster system:: getwd', else "+daemon.DefaultWorkdir+")")
	f.StringVar(&cfg.GlusterdSocket, "glusterd-socket", glusterd.DefaultSocket, "glusterd's CLI socket, read for volumes, peers and glusterd's identity instead of running the CLI; the --glusterd-sock= of --gluster when it has one, none when it has --remote-host=; \"\" reads through the CLI only")
	f.StringVar(&cfg.ConfigPath, "config", config.DefaultPath, "configuration file (manage_group, log_level), re-read on SIGHUP; a missing file means defaults")
	f.StringVar(&cfg.StateDir, "state-dir", "/var/lib/glusterbus", "where glusterbus keeps its own state")
	f.DurationVar(&cfg.Interval, "interval", 10*time.Second, "periodic reconcile interval")
	f.DurationVar(&cfg.QuietPeriod, "quiet-period", 2*time.Second, "with --remote-brick-status: how long a volume must see no change before 'volume status' (which takes its lock) may run")
	f.DurationVar(&cfg.QuotaInterval, "quota-interval", 5*time.Minute, "how often the quota limits and usage of volumes with quota on are read from quotad with nothing asking (lock-free)")
	f.BoolVar(&cfg.RemoteBrickStatus, "remote-brick-status", false, "also read other nodes' bricks with 'volume status', which takes the volume's lock and can make an admin's command on it fail (for pools where not every node runs glusterbus)")
	f.IntVar(&cfg.EventsPort, "events-port", nativeevents.DefaultPort, "UDP port for GlusterFS's native events (default: the port of --events-config); glustereventsd must not hold it")
	f.StringVar(&eventsConfig, "events-config", nativeevents.DefaultConfigPath, "glustereventsd's configuration, read for its port")
	f.StringSliceVar(&cfg.EventsAllow, "events-allow", nil, "networks (CIDR) allowed to send native events besides loopback and the peers, e.g. the FUSE clients'")
	f.Float64Var(&cfg.EventsRate, "events-rate", 1000, "native events accepted per second from one source address (negative: no limit); the excess is counted and dropped")
	f.IntVar(&cfg.EventsBurst, "events-burst", 5000, "native events one source may send at once above --events-rate")
	f.BoolVar(&noEvents, "no-events", false, "do not receive native events")
	f.IntVar(&cfg.JournalMaxEvents, "journal-max-events", 100000, "keep at most this many events in the journal")
	f.DurationVar(&cfg.JournalMaxAge, "journal-max-age", 7*24*time.Hour, "keep journaled events at most this long")
	f.StringVar(&cfg.WebhooksFile, "webhooks-file", "", "gluster-eventsapi's webhooks file (default <glusterd workdir>/events/webhooks.json)")
	f.BoolVar(&cfg.NoWatch, "no-watch", false, "do not watch glusterd's working directory (hooks, native events and the reconcile remain)")
	f.DurationVar(&cfg.CLITimeout, "cli-timeout", gluster.DefaultTimeout, "timeout of one gluster CLI call")
	f.StringVar(&cfg.HTTP.Addr, "http", "", "serve Prometheus metrics, the state and the events over HTTP on this host:port (e.g. 127.0.0.1:9713); off by default")
	f.StringVar(&cfg.HTTP.TokenFile, "http-token-file", "", "require a bearer token from this file (one a line, file mode 600)")
	f.StringVar(&cfg.HTTP.CertFile, "http-cert", "", "serve HTTPS with this certificate (PEM), with --http-key")
	f.StringVar(&cfg.HTTP.KeyFile, "http-key", "", "the private key (PEM) of --http-cert")
	f.BoolVar(&cfg.HTTP.Insecure, "http-insecure", false, "allow a non-loopback --http address without a token file or TLS")
	f.StringSliceVar(&cfg.NATS.URLs, "nats", nil, "publish every journaled event to the JetStream stream "+natsstream.StreamName+" on these NATS servers (URL[,URL...])")
	f.StringVar(&cfg.NATS.CredsFile, "nats-creds", "", "NATS credentials file (user JWT and nkey seed)")
	f.StringVar(&cfg.NATS.TLSCA, "nats-tls-ca", "", "PEM file of the CAs that sign the NATS servers' certificates")
	f.BoolVar(&cfg.NATS.Embedded, "nats-embedded", false, "run a NATS server in glusterbus, clustered with the other nodes' glusterbus at the pool's peer addresses, and publish to it")
	f.StringVar(&cfg.NATS.ClientListen, "nats-embedded-listen", "127.0.0.1:4222", "with --nats-embedded: host:port where the embedded server takes clients (glusterbus events --cluster)")
	f.StringVar(&cfg.NATS.ClusterListen, "nats-embedded-cluster-listen", "0.0.0.0:6222", "with --nats-embedded: host:port where the embedded server meets the other nodes' (the same port on every node)")
	f.StringVar(&cfg.NATS.ClusterID, "nats-cluster-id", "", "the pool's name in the subjects (default: derived once from the pool's glusterd UUIDs and kept in --state-dir)")
	f.IntVar(&cfg.NATS.Replicas, "nats-replicas", 0, "replicas of the stream when glusterbus creates it (default: 3, or the number of nodes if fewer)")
	return cmd
}

// glusterdSocket is the socket the gluster command prefix talks to: its
// --glusterd-sock=PATH, else glusterd's default; none ("") when it talks to
// another host's glusterd (--remote-host=), whose socket is out of reach.
func glusterdSocket(command []string) string {
	sock := glusterd.DefaultSocket
	for _, w := range command[1:] {
		if p, ok := strings.CutPrefix(w, "--glusterd-sock="); ok {
			return p
		}
		if strings.HasPrefix(w, "--remote-host=") {
			sock = ""
		}
	}
	return sock
}
