package main

import (
	"os"

	"github.com/godbus/dbus/v5"
	"github.com/spf13/cobra"

	"github.com/glusterbus/glusterbus/internal/bus"
	"github.com/glusterbus/glusterbus/internal/busclient"
	"github.com/glusterbus/glusterbus/internal/natsstream"
)

// onBus runs fn with a connection to the bus, closed afterwards.
func onBus(address string, fn func(conn *dbus.Conn) error) error {
	conn, err := bus.Connect(address)
	if err != nil {
		return err
	}
	defer conn.Close()
	return fn(conn)
}

func newStatus() *cobra.Command {
	var (
		address string
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the volumes, bricks and peers as the daemon exports them on the bus",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return onBus(address, func(conn *dbus.Conn) error {
				st, err := busclient.ReadStatus(cmd.Context(), conn)
				if err != nil {
					return err
				}
				if asJSON {
					return st.WriteJSON(os.Stdout)
				}
				return st.WriteText(os.Stdout)
			})
		},
	}
	addBusFlag(cmd, &address)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newMonitor() *cobra.Command {
	var address string
	cmd := &cobra.Command{
		Use:   "monitor",
		Short: "Print one line per signal from the daemon until interrupted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return onBus(address, func(conn *dbus.Conn) error { return busclient.Monitor(cmd.Context(), conn, os.Stdout) })
		},
	}
	addBusFlag(cmd, &address)
	return cmd
}

func newEvents() *cobra.Command {
	var (
		address string
		since   uint64
		follow  bool
		asJSON  bool
		cluster bool
		nc      natsClientFlags
	)
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Print journaled events after --since, then follow new ones with --follow; --cluster reads the pool's NATS stream",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			write := busclient.WriteEventText
			if asJSON {
				write = busclient.WriteEventJSON
			}
			if cluster {
				return nc.read(cmd.Context(), since, follow, func(ev busclient.Event) error { return write(os.Stdout, ev) })
			}
			return onBus(address, func(conn *dbus.Conn) error {
				return busclient.Events(cmd.Context(), conn, since, follow, func(ev busclient.Event) error {
					return write(os.Stdout, ev)
				})
			})
		},
	}
	addBusFlag(cmd, &address)
	cmd.Flags().Uint64Var(&since, "since", 0, "print events with a sequence number greater than this (with --cluster: the stream's sequence)")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new events as they come")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per line")
	cmd.Flags().BoolVar(&cluster, "cluster", false, "read the pool's events from the NATS JetStream stream "+natsstream.StreamName+" (serve --nats or --nats-embedded) instead of this node's journal")
	nc.add(cmd)
	return cmd
}
