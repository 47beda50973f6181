package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/glusterbus/glusterbus/internal/journal"
	"github.com/glusterbus/glusterbus/internal/natsstream"
	"github.com/glusterbus/glusterbus/internal/state"
)

// NATSConfig turns on the cluster-wide event stream (see docs/events.md).
type NATSConfig struct {
	URLs      []string // external servers; empty and not Embedded: off
	CredsFile string
	TLSCA     string

	// Embedded runs nats-server in the daemon, clustered with the other
	// nodes' daemons at their peer addresses.
	Embedded      bool
	ClientListen  string // host:port for local clients; "" means 127.0.0.1:4222
	ClusterListen string // host:port for the other nodes; "" means 0.0.0.0:6222

	// ClusterID names the pool in the subjects; "" derives it once (see
	// natsClusterID) and keeps it in the state directory.
	ClusterID string
	// Replicas of the stream when this node creates it; 0 means
	// min(3, nodes in the pool).
	Replicas int
}

func (c NATSConfig) enabled() bool { return c.Embedded || len(c.URLs) > 0 }

// clusterIDFile keeps the derived cluster id in the state directory.
const clusterIDFile = "nats-cluster-id"

// startNATS publishes the journal to the stream, with an embedded server
// if asked, until ctx ends; the returned function waits for it to stop.
// It waits for glusterd's UUID (the server's name and part of the cluster
// id) when the first read of the cluster has not told it yet.
func startNATS(ctx context.Context, cfg Config, j *journal.Journal, model *state.Model, workdir string, log *slog.Logger) func() {
	if !cfg.NATS.enabled() {
		return func() {}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		model.UpdateService(func(s *state.Service) { s.ClusterStream = state.ClusterStreamState{State: streamConnecting} })
		if err := runNATS(ctx, cfg, j, model, workdir, log); err != nil {
			log.Error("nats: the cluster event stream is off", "err", err)
			model.UpdateService(func(s *state.Service) {
				s.ClusterStream.State, s.ClusterStream.LastError = streamFailed, err.Error()
			})
		}
	}()
	return wg.Wait
}

func runNATS(ctx context.Context, cfg Config, j *journal.Journal, model *state.Model, workdir string, log *slog.Logger) error {
	// The helpers below stop when runNATS returns, also on an error.
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var g state.Glusterd
	for g = model.Glusterd(); g.UUID == ""; g = model.Glusterd() {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	peers := model.Peers()
	cluster, err := natsClusterID(cfg.NATS.ClusterID, cfg.StateDir, g.UUID, peers)
	if err != nil {
		return err
	}
	replicas := cfg.NATS.Replicas
	if replicas <= 0 {
		replicas = min(3, 1+len(peers))
	}
	copts := natsstream.ConnectOptions{URLs: cfg.NATS.URLs, CredsFile: cfg.NATS.CredsFile, TLSCA: cfg.NATS.TLSCA,
		Name: "glusterbus " + g.UUID, Logger: log}
	if cfg.NATS.Embedded {
		srv, ec, err := startEmbedded(cfg, g.UUID, cluster, peers, log)
		if err != nil {
			return err
		}
		routesDone := make(chan struct{})
		defer func() {
			stop()
			<-routesDone
			srv.Shutdown()
			srv.WaitForShutdown()
		}()
		go func() { followPeers(ctx, srv, ec, model, embeddedRoutesInterval, log); close(routesDone) }()
		copts.InProcess = srv
	}
	nc, err := natsstream.Connect(copts)
	if err != nil {
		return err
	}
	defer nc.Close()
	// Unanswered publishes must not pile up while a stream elects a leader.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(natsstream.DefaultAckTimeout))
	if err != nil {
		return err
	}
	pub, err := natsstream.NewPublisher(natsstream.PublisherOptions{Journal: j, JS: js, Cluster: cluster,
		Replicas: replicas, Logger: log})
	if err != nil {
		return err
	}
	// Webhooks with cluster delivery take their events from the stream.
	hooksFile := cfg.WebhooksFile
	if hooksFile == "" {
		hooksFile = filepath.Join(workdir, "events", "webhooks.json")
	}
	hooks := natsstream.NewHookDeliverer(natsstream.HookOptions{JS: js, Cluster: cluster, File: hooksFile, Logger: log})
	hooksDone := make(chan struct{})
	go func() { hooks.Run(ctx); close(hooksDone) }()
	defer func() { stop(); <-hooksDone }()
	shown := make(chan struct{})
	go func() { showClusterStream(ctx, nc, pub, model, time.Second); close(shown) }()
	defer func() { stop(); <-shown }()
	return pub.Run(ctx)
}

// The manager's ClusterStream values (api/).
const (
	streamConnecting   = "connecting"
	streamConnected    = "connected"
	streamDisconnected = "disconnected"
	streamFailing      = "failing"
	streamFailed       = "failed"
)

// showClusterStream copies the publisher's condition to the manager every
// interval when it changed, so a busy stream signals at most once an
// interval.
func showClusterStream(ctx context.Context, nc *nats.Conn, pub *natsstream.Publisher, model *state.Model, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var last state.ClusterStreamState
	everReady := false
	for {
		st := pub.Status()
		everReady = everReady || st.Ready
		connErr := ""
		if err := nc.LastError(); err != nil {
			connErr = err.Error()
		}
		cur := clusterStreamState(nc.Status() == nats.CONNECTED, everReady, st, connErr)
		if cur != last {
			last = cur
			model.UpdateService(func(s *state.Service) { s.ClusterStream = cur })
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// clusterStreamState names the publisher's condition: connected is the
// NATS connection's, everReady whether the stream was ever found.
func clusterStreamState(connected, everReady bool, st natsstream.Status, connErr string) state.ClusterStreamState {
	cs := state.ClusterStreamState{Cursor: st.Cursor, Published: st.Published + st.Duplicates, LastError: st.LastError}
	switch {
	case !connected && everReady:
		cs.State = streamDisconnected
	case !connected:
		cs.State = streamConnecting
	case st.LastError != "":
		cs.State = streamFailing
	case !st.Ready:
		cs.State = streamConnecting
	default:
		cs.State = streamConnected
	}
	if !connected && cs.LastError == "" {
		cs.LastError = connErr
		if cs.LastError == "" {
			cs.LastError = "no NATS server answers"
		}
	}
	return cs
}

// embeddedRoutesInterval is how often the embedded server's routes are
// compared with the pool's peers.
const embeddedRoutesInterval = 5 * time.Second

func startEmbedded(cfg Config, uuid, cluster string, peers map[string]state.Peer, log *slog.Logger) (*server.Server, natsstream.EmbeddedConfig, error) {
	listen := cfg.NATS.ClusterListen
	if listen == "" {
		listen = net.JoinHostPort("0.0.0.0", strconv.Itoa(natsstream.DefaultClusterPort))
	}
	if _, _, err := net.SplitHostPort(listen); err != nil {
		return nil, natsstream.EmbeddedConfig{}, fmt.Errorf("--nats-cluster-listen: %w", err)
	}
	routes := peerRoutes(peers, listen)
	ec := natsstream.EmbeddedConfig{
		ServerName:    uuid,
		StoreDir:      filepath.Join(cfg.StateDir, "nats"),
		ClientListen:  cfg.NATS.ClientListen,
		ClusterListen: listen,
		ClusterName:   "glusterfs-" + cluster,
		Routes:        routes,
	}
	srv, err := natsstream.StartEmbedded(ec)
	if err != nil {
		return nil, ec, err
	}
	log.Info("nats: embedded server started", "name", uuid, "clients", srv.ClientURL(), "cluster_listen", listen, "routes", routes)
	return srv, ec, nil
}

// peerRoutes are the cluster addresses of the peers' servers: each peer's
// address (as the pool knows it) at this node's cluster port, sorted.
func peerRoutes(peers map[string]state.Peer, listen string) []string {
	_, port, _ := net.SplitHostPort(listen)
	var routes []string
	for _, p := range peers {
		if p.Hostname != "" {
			routes = append(routes, net.JoinHostPort(p.Hostname, port))
		}
	}
	slices.Sort(routes)
	return routes
}

// followPeers gives the embedded server a route to every peer of the pool
// every interval when the pool changed, by reloading its configuration.
// A server started without peers stays single (clustered JetStream needs
// a route at start), and one whose peers all left keeps its last routes
// (it cannot drop them all): both need a restart of the daemon.
func followPeers(ctx context.Context, srv *server.Server, ec natsstream.EmbeddedConfig, model *state.Model, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	tried := ec.Routes // the last set applied or refused: say each once
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		routes := peerRoutes(model.Peers(), ec.ClusterListen)
		if slices.Equal(routes, tried) {
			continue
		}
		tried = routes
		switch {
		case len(ec.Routes) == 0:
			log.Warn("nats: the pool has peers now, but the embedded server started alone; restart the daemon to cluster it", "routes", routes)
			continue
		case len(routes) == 0:
			log.Warn("nats: the pool has no peers left; the embedded server keeps its routes until the daemon restarts", "routes", ec.Routes)
			continue
		}
		next := ec
		next.Routes = routes
		if err := natsstream.ReloadEmbedded(srv, next); err != nil {
			log.Warn("nats: the embedded server's routes stay as they were", "err", err, "routes", ec.Routes)
			continue
		}
		log.Info("nats: the embedded server's routes follow the pool", "routes", routes, "before", ec.Routes)
		ec = next
	}
}

// natsClusterID is the pool's id in the subjects: the one given, else the
// one derived before (kept in the state directory so that a later change
// of the pool's members never moves the subjects), else the lowest glusterd
// UUID of the pool as this node sees it now. glusterd keeps no id of the
// pool itself; the lowest member UUID is the same on every node that
// derives it while the pool's members are the same.
func natsClusterID(given, stateDir, own string, peers map[string]state.Peer) (string, error) {
	if given != "" {
		return given, nil
	}
	path := filepath.Join(stateDir, clusterIDFile)
	if b, err := os.ReadFile(path); err == nil {
		if id := strings.TrimSpace(string(b)); id != "" {
			return id, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("reading the cluster id: %w", err)
	}
	ids := []string{own}
	for _, p := range peers {
		if p.UUID != "" {
			ids = append(ids, p.UUID)
		}
	}
	id := slices.Min(ids)
	if err := os.WriteFile(path, []byte(id+"\n"), 0o640); err != nil {
		return "", fmt.Errorf("storing the cluster id: %w", err)
	}
	return id, nil
}
