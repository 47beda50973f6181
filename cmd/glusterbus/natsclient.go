package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/glusterbus/glusterbus/internal/busclient"
	"github.com/glusterbus/glusterbus/internal/natsstream"
)

// natsClientFlags say how `events --cluster` reaches the stream.
type natsClientFlags struct {
	urls      []string
	creds     string
	tlsCA     string
	clusterID string
	stateDir  string
}

func (f *natsClientFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringSliceVar(&f.urls, "nats", []string{nats.DefaultURL}, "with --cluster: NATS servers (URL[,URL...]); the default is serve --nats-embedded's")
	fl.StringVar(&f.creds, "nats-creds", "", "with --cluster: NATS credentials file")
	fl.StringVar(&f.tlsCA, "nats-tls-ca", "", "with --cluster: PEM file of the CAs that sign the NATS servers' certificates")
	fl.StringVar(&f.clusterID, "nats-cluster-id", "", "with --cluster: the pool's id in the subjects (default: serve's, from --state-dir, else every pool in the stream)")
	fl.StringVar(&f.stateDir, "state-dir", "/var/lib/glusterbus", "with --cluster: serve's state directory, for the pool's id")
}

// read prints the stream's events; the sequence shown is the stream's.
func (f *natsClientFlags) read(ctx context.Context, since uint64, follow bool, emit func(busclient.Event) error) error {
	cluster := f.clusterID
	if cluster == "" {
		if b, err := os.ReadFile(filepath.Join(f.stateDir, "nats-cluster-id")); err == nil {
			cluster = strings.TrimSpace(string(b))
		}
	}
	nc, err := natsstream.Connect(natsstream.ConnectOptions{URLs: f.urls, CredsFile: f.creds, TLSCA: f.tlsCA,
		Name: "glusterbus events", FailFast: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	return natsstream.Read(ctx, js, cluster, since, follow, func(m natsstream.StreamMessage) error {
		return emit(busclient.Event{Seq: m.StreamSeq, Name: m.Name, Time: m.Time, Node: m.Node, Object: m.Object, Fields: m.Fields})
	})
}
