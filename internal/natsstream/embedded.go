package natsstream

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Default ports of an embedded server, NATS's own.
const (
	DefaultClientPort  = 4222
	DefaultClusterPort = 6222
)

// EmbeddedConfig describes a nats-server run inside the daemon.
type EmbeddedConfig struct {
	ServerName string // unique in the cluster: the node's glusterd UUID
	StoreDir   string // JetStream's files; keep it across restarts
	// ClientListen is host:port for clients such as `glusterbus events
	// --cluster`; "" means 127.0.0.1:4222.
	ClientListen string
	// ClusterListen is host:port for the other nodes' servers; "" means
	// 0.0.0.0:6222. Unused without Routes.
	ClusterListen string
	// ClusterName names the NATS cluster (the same on every node).
	ClusterName string
	// Routes are the other nodes' cluster addresses (host:port). None runs a
	// single server (clustered JetStream does not start without a route),
	// which a reload cannot make a cluster.
	Routes []string
	// LogFile, if set, receives the server's own log.
	LogFile string
}

// Config returns the server's configuration file text. The server is set
// up from it as from a file, because servers configured only through
// server.Options have misbehaved in clustered JetStream (nats-server
// #4794, #6890).
func (c EmbeddedConfig) Config() (string, error) {
	if c.ServerName == "" || c.StoreDir == "" {
		return "", errors.New("an embedded NATS server needs a name and a store directory")
	}
	client := c.ClientListen
	if client == "" {
		client = net.JoinHostPort("127.0.0.1", strconv.Itoa(DefaultClientPort))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "server_name: %s\n", strconv.Quote(c.ServerName))
	fmt.Fprintf(&b, "listen: %s\n", strconv.Quote(client))
	fmt.Fprintf(&b, "jetstream {\n  store_dir: %s\n}\n", strconv.Quote(c.StoreDir))
	if c.LogFile != "" {
		fmt.Fprintf(&b, "log_file: %s\n", strconv.Quote(c.LogFile))
	}
	if len(c.Routes) > 0 {
		listen := c.ClusterListen
		if listen == "" {
			listen = net.JoinHostPort("0.0.0.0", strconv.Itoa(DefaultClusterPort))
		}
		name := c.ClusterName
		if name == "" {
			name = "glusterfs"
		}
		fmt.Fprintf(&b, "cluster {\n  name: %s\n  listen: %s\n  routes: [\n", strconv.Quote(name), strconv.Quote(listen))
		for _, r := range c.Routes {
			fmt.Fprintf(&b, "    %s\n", strconv.Quote("nats-route://"+r))
		}
		b.WriteString("  ]\n}\n")
	}
	return b.String(), nil
}

// StartEmbedded starts the server and waits until it takes connections.
// JetStream in a cluster may need longer, until a quorum of servers is up:
// publishing retries meanwhile.
func StartEmbedded(c EmbeddedConfig) (*server.Server, error) {
	conf, err := c.Config()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.StoreDir, 0o750); err != nil {
		return nil, fmt.Errorf("NATS store directory: %w", err)
	}
	opts := &server.Options{}
	if err := opts.ProcessConfigString(conf); err != nil {
		return nil, fmt.Errorf("embedded NATS configuration: %w", err)
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS server: %w", err)
	}
	if c.LogFile != "" {
		s.ConfigureLogger()
	}
	s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return nil, errors.New("the embedded NATS server did not start")
	}
	return s, nil
}

// ReloadEmbedded applies c to a server StartEmbedded started, as
// nats-server applies a changed configuration file: routes are added and
// removed, connections stay. c must differ from the starting configuration
// only in what nats-server can reload: Routes, but not the listen
// addresses, and not from none to some or from some to none.
func ReloadEmbedded(s *server.Server, c EmbeddedConfig) error {
	conf, err := c.Config()
	if err != nil {
		return err
	}
	opts := &server.Options{}
	if err := opts.ProcessConfigString(conf); err != nil {
		return fmt.Errorf("embedded NATS configuration: %w", err)
	}
	if err := s.ReloadOptions(opts); err != nil {
		return fmt.Errorf("reloading the embedded NATS server: %w", err)
	}
	return nil
}
