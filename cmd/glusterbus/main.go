// Command glusterbus exports GlusterFS state on D-Bus and keeps it current.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/glusterbus/glusterbus/internal/webhook"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "glusterbus:", err)
		os.Exit(exitCode(err))
	}
}

// exitCode is 1, except where gluster-eventsapi, whose webhook verbs ours
// mirror, uses its own codes for scripts that test them.
func exitCode(err error) int {
	switch {
	case errors.Is(err, errTestFailed):
		return 3 // ERROR_ALL_NODES_STATUS_NOT_OK
	case errors.Is(err, webhook.ErrExists):
		return 5 // ERROR_WEBHOOK_ALREADY_EXISTS
	case errors.Is(err, webhook.ErrNotFound):
		return 6 // ERROR_WEBHOOK_NOT_EXISTS
	case errors.Is(err, errSync):
		return 8 // ERROR_WEBHOOK_SYNC_FAILED
	}
	return 1
}

// logLevel is the level of the default logger; serve lets the
// configuration file change it.
var logLevel = new(slog.LevelVar)

func newRoot() *cobra.Command {
	var level string
	root := &cobra.Command{
		Use:           "glusterbus",
		Short:         "GlusterFS state and events on D-Bus",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			var l slog.Level
			if err := l.UnmarshalText([]byte(level)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			logLevel.Set(l)
			slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel})))
			return nil
		},
	}
	root.PersistentFlags().StringVar(&level, "log-level", "info", "debug, info, warn or error")
	root.AddCommand(newServe(), newStatus(), newMonitor(), newEvents(), newHooks(), newHook(), newInstall(), newUninstall(), newWebhook())
	return root
}

// addBusFlag adds --bus: "system", "session" or a D-Bus address.
func addBusFlag(cmd *cobra.Command, bus *string) {
	cmd.Flags().StringVar(bus, "bus", "system", `the bus: "system", "session" or a D-Bus address such as unix:path=/run/x.sock`)
}
