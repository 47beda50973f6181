package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/glusterbus/glusterbus/internal/bus"
	"github.com/glusterbus/glusterbus/internal/daemon"
	"github.com/glusterbus/glusterbus/internal/hooks"
)

func newHooks() *cobra.Command {
	var (
		workdir, command, address, binary string
	)
	resolve := func(ctx context.Context) (string, error) { return glusterdWorkdir(ctx, workdir, command) }
	cmd := &cobra.Command{
		Use:   "hooks",
		Short: "Install or remove the glusterd hook scripts that tell the daemon after each operation",
	}
	cmd.PersistentFlags().StringVar(&workdir, "glusterd-workdir", "", "glusterd's working directory (default: ask 'gluster system:: getwd', else "+daemon.DefaultWorkdir+")")
	cmd.PersistentFlags().StringVar(&command, "gluster", "gluster", "the gluster CLI command, as a prefix, to ask for the working directory")

	install := &cobra.Command{
		Use:   "install",
		Short: "Write post hooks for " + fmt.Sprint(hooks.Ops),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			wd, err := resolve(cmd.Context())
			if err != nil {
				return err
			}
			if binary == "" {
				if binary, err = os.Executable(); err != nil {
					return err
				}
			}
			if binary, err = filepath.Abs(binary); err != nil {
				return err
			}
			written, err := hooks.Install(hooks.Options{Workdir: wd, Binary: binary, Bus: address})
			for _, f := range written {
				fmt.Println("wrote", f)
			}
			return err
		},
	}
	install.Flags().StringVar(&address, "bus", "system", "the bus the hooks call the daemon on")
	install.Flags().StringVar(&binary, "binary", "", "the glusterbus binary the hooks run (default: this one)")

	uninstall := &cobra.Command{
		Use:   "uninstall",
		Short: "Remove exactly the hook scripts install wrote",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			wd, err := resolve(cmd.Context())
			if err != nil {
				return err
			}
			removed, err := hooks.Uninstall(wd)
			for _, f := range removed {
				fmt.Println("removed", f)
			}
			return err
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the installed hook scripts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			wd, err := resolve(cmd.Context())
			if err != nil {
				return err
			}
			files, err := hooks.Installed(wd)
			for _, f := range files {
				fmt.Println(f)
			}
			return err
		},
	}
	cmd.AddCommand(install, uninstall, list)
	return cmd
}

// newHook is what the installed scripts run: it parses glusterd's hook
// arguments and asks the daemon to refresh. A daemon that is not running is
// not an error glusterd should hear of.
func newHook() *cobra.Command {
	var address string
	cmd := &cobra.Command{
		Use:    "hook OP -- GLUSTERD-ARGS...",
		Short:  "Tell the daemon about a glusterd operation (run by the hook scripts)",
		Hidden: true,
		Args:   cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := hooks.ParseArgs(args[0], args[1:])
			if err != nil {
				return err
			}
			conn, err := bus.Connect(address)
			if err != nil {
				return err
			}
			defer conn.Close()
			err = hooks.Notify(cmd.Context(), conn, req)
			if errors.Is(err, hooks.ErrDaemonNotRunning) {
				slog.Debug("daemon not running; nothing to tell", "op", req.Op, "volume", req.Volume)
				return nil
			}
			return err
		},
	}
	cmd.Flags().StringVar(&address, "bus", "system", "the bus the daemon is on")
	return cmd
}
