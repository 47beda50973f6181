package main

import (
	"github.com/spf13/cobra"

	"github.com/glusterbus/glusterbus/internal/install"
)

func newInstall() *cobra.Command {
	var o install.Options
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Install glusterbus as a system service: binary, systemd unit, D-Bus policy and activation, polkit action, Cockpit page, configuration, glusterd hooks",
		Long: `Install copies this binary to <prefix>/bin/glusterbus and puts in place the
systemd unit, the D-Bus system bus policy and activation file, the polkit
action, the Cockpit page (<prefix>/share/cockpit/glusterbus),
/etc/glusterbus/glusterbus.conf (only if there is none) and glusterd's hook
scripts. It records what it wrote in /var/lib/glusterbus/install-manifest.json,
replaces only those files and only while they are unchanged, and refuses, before
writing anything, when another file is in the way (unless --force). It does not
start or enable the service.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Out = cmd.OutOrStdout()
			return install.Install(o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Prefix, "prefix", install.DefaultPrefix, "installation prefix (/usr for a distribution package)")
	f.StringVar(&o.Root, "root", "/", "directory every path is prefixed with, for staging a package")
	f.StringVar(&o.Group, "group", install.DefaultGroup, `group allowed to call the methods that change GlusterFS besides root ("" for root only)`)
	f.StringVar(&o.GlusterdWorkdir, "glusterd-workdir", install.DefaultWorkdir, "glusterd's working directory, for the hook scripts (skipped if it does not exist)")
	f.BoolVar(&o.Force, "force", false, "replace files glusterbus did not write, or that changed since")
	return cmd
}

func newUninstall() *cobra.Command {
	var o install.UninstallOptions
	cmd := &cobra.Command{
		Use:   "uninstall",
		Short: "Remove what glusterbus install wrote and is unchanged since",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Out = cmd.OutOrStdout()
			return install.Uninstall(o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Root, "root", "/", "the --root of the install")
	f.BoolVar(&o.Force, "force", false, "uninstall even while glusterbus.service is enabled")
	return cmd
}
