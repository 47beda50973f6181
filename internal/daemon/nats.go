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
		if err := runNATS(ctx, cfg, j, model, workdir, log); err != nil {
			log.Error("nats: the cluster event stream is off", "err", err)
		}
	}()
	return wg.Wait
}

func runNATS(ctx context.Context, cfg Config, j *journal.Journal, model *state.Model, workdir string, log *slog.Logger) error {
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
		srv, err := startEmbedded(cfg, g.UUID, cluster, peers, log)
		if err != nil {
			return err
		}
		defer func() {
			srv.Shutdown()
			srv.WaitForShutdown()
		}()
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
	defer func() { <-hooksDone }()
	return pub.Run(ctx)
}

func startEmbedded(cfg Config, uuid, cluster string, peers map[string]state.Peer, log *slog.Logger) (*server.Server, error) {
	listen := cfg.NATS.ClusterListen
	if listen == "" {
		listen = net.JoinHostPort("0.0.0.0", strconv.Itoa(natsstream.DefaultClusterPort))
	}
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("--nats-cluster-listen: %w", err)
	}
	var routes []string
	for _, p := range peers {
		if p.Hostname != "" {
			routes = append(routes, net.JoinHostPort(p.Hostname, port))
		}
	}
	slices.Sort(routes)
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
		return nil, err
	}
	log.Info("nats: embedded server started", "name", uuid, "clients", srv.ClientURL(), "cluster_listen", listen, "routes", routes)
	return srv, nil
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
