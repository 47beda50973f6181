package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/spf13/cobra"

	"github.com/glusterbus/glusterbus/internal/daemon"
	"github.com/glusterbus/glusterbus/internal/exporter"
	"github.com/glusterbus/glusterbus/internal/gluster"
	"github.com/glusterbus/glusterbus/internal/webhook"
)

// glusterdWorkdir returns dir if given, else what gluster says, else the
// default.
func glusterdWorkdir(ctx context.Context, dir, command string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	words, err := gluster.ParseCommand(command)
	if err != nil {
		return "", err
	}
	if wd, err := (&gluster.CLI{Command: words, Timeout: 10 * time.Second}).Workdir(ctx); err == nil && wd != "" {
		return wd, nil
	}
	return daemon.DefaultWorkdir, nil
}

// webhookFlags are a webhook's settings on the command line, named as
// gluster-eventsapi names them where it has them.
type webhookFlags struct {
	token, secret, caFile          string
	events, volumes, sources       []string
	noVerify                       bool
	timeout                        time.Duration
	clearToken, clearSecret, clear bool
}

func (f *webhookFlags) add(cmd *cobra.Command, mod bool) {
	fl := cmd.Flags()
	fl.StringVarP(&f.token, "bearer_token", "t", "", "bearer token")
	fl.StringVarP(&f.secret, "secret", "s", "", "secret for an HS256 JWT bearer (wins over a token)")
	fl.StringSliceVar(&f.events, "events", nil, "only these event names, or prefixes ending in '*'")
	fl.StringSliceVar(&f.volumes, "volumes", nil, "only events about these volumes")
	fl.StringSliceVar(&f.sources, "sources", nil, "only these sources: native (glustereventsd's events), diff (state changes)")
	fl.BoolVar(&f.noVerify, "no-verify", false, "do not verify the https certificate")
	fl.StringVar(&f.caFile, "ca-file", "", "PEM certificates to trust for this webhook")
	fl.DurationVar(&f.timeout, "timeout", 0, "timeout of one POST (default 10s)")
	if mod {
		fl.BoolVar(&f.clearToken, "clear-token", false, "remove the bearer token")
		fl.BoolVar(&f.clearSecret, "clear-secret", false, "remove the secret")
		fl.BoolVar(&f.clear, "clear-filters", false, "remove the events, volumes and sources filters")
	}
}

func newWebhook() *cobra.Command {
	var workdir, command, file, address string
	path := func(cmd *cobra.Command) (string, error) {
		if file != "" {
			return file, nil
		}
		wd, err := glusterdWorkdir(cmd.Context(), workdir, command)
		return filepath.Join(wd, "events", "webhooks.json"), err
	}
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "Manage webhooks as gluster-eventsapi does (same file), and show their delivery",
		Long: `The webhooks live in gluster-eventsapi's file, <glusterd workdir>/events/webhooks.json;
add, mod and del change this node's file only (copy it to the other nodes as needed).
The running daemon picks up every change without a restart.`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&file, "webhooks-file", "", "the webhooks file (default <glusterd workdir>/events/webhooks.json)")
	pf.StringVar(&workdir, "glusterd-workdir", "", "glusterd's working directory (default: ask gluster)")
	pf.StringVar(&command, "gluster", "gluster", "the gluster CLI command, as a prefix")

	var addFlags webhookFlags
	add := &cobra.Command{
		Use:   "add URL",
		Short: "Add a webhook",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := path(cmd)
			if err != nil {
				return err
			}
			f := addFlags
			return webhook.Add(p, webhook.Webhook{URL: args[0], Token: f.token, Secret: f.secret, Events: f.events,
				Volumes: f.volumes, Sources: f.sources, NoVerify: f.noVerify, CAFile: f.caFile, Timeout: f.timeout})
		},
	}
	addFlags.add(add, false)

	var modFlags webhookFlags
	mod := &cobra.Command{
		Use:   "mod URL",
		Short: "Change a webhook",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := path(cmd)
			if err != nil {
				return err
			}
			var c webhook.Change
			fl, f := cmd.Flags(), modFlags
			if fl.Changed("bearer_token") {
				c.Token = &f.token
			}
			if fl.Changed("secret") {
				c.Secret = &f.secret
			}
			if fl.Changed("events") || f.clear {
				c.Events = &f.events
			}
			if fl.Changed("volumes") || f.clear {
				c.Volumes = &f.volumes
			}
			if fl.Changed("sources") || f.clear {
				c.Sources = &f.sources
			}
			if fl.Changed("no-verify") {
				c.NoVerify = &f.noVerify
			}
			if fl.Changed("ca-file") {
				c.CAFile = &f.caFile
			}
			if fl.Changed("timeout") {
				c.Timeout = &f.timeout
			}
			c.ClearToken, c.ClearSecret = f.clearToken, f.clearSecret
			return webhook.Modify(p, args[0], c)
		},
	}
	modFlags.add(mod, true)

	del := &cobra.Command{
		Use:   "del URL",
		Short: "Delete a webhook",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := path(cmd)
			if err != nil {
				return err
			}
			return webhook.Delete(p, args[0])
		},
	}

	list := &cobra.Command{
		Use:   "list",
		Short: "List the webhooks and their settings (never their tokens or secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := path(cmd)
			if err != nil {
				return err
			}
			c, err := webhook.List(p)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "URL\tAUTH\tEVENTS\tVOLUMES\tSOURCES\tVERIFY")
			for _, w := range c.Webhooks {
				auth := "none"
				switch {
				case w.Secret != "":
					auth = "jwt"
				case w.Token != "":
					auth = "token"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%v\n", w.URL, auth, orAll(w.Events), orAll(w.Volumes), sources(w.Sources), !w.NoVerify)
			}
			for _, inv := range c.Invalid {
				fmt.Fprintf(tw, "%s\tinvalid: %v\n", inv.URL, inv.Err)
			}
			return tw.Flush()
		},
	}

	var testFlags webhookFlags
	test := &cobra.Command{
		Use:   "test URL",
		Short: "Send a sample event to a webhook (configured, or given by its flags) and show the answer",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			w := webhook.Webhook{URL: args[0], Token: testFlags.token, Secret: testFlags.secret,
				NoVerify: testFlags.noVerify, CAFile: testFlags.caFile, Timeout: testFlags.timeout}
			if p, err := path(cmd); err == nil {
				if c, err := webhook.List(p); err == nil {
					if configured, ok := c.Find(args[0]); ok && !cmd.Flags().Changed("bearer_token") && !cmd.Flags().Changed("secret") {
						w = configured
					}
				}
			}
			code, err := webhook.Test(cmd.Context(), w, "", w.Timeout)
			if err != nil {
				return err
			}
			fmt.Printf("%s: HTTP %d\n", args[0], code)
			if code < 200 || code > 299 {
				return fmt.Errorf("the webhook answered %d", code)
			}
			return nil
		},
	}
	testFlags.add(test, false)

	status := &cobra.Command{
		Use:   "status",
		Short: "Show each webhook's delivery state, as the running daemon reports it on the bus",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return onBus(address, func(conn *dbus.Conn) error { return printWebhookStatus(conn) })
		},
	}
	addBusFlag(status, &address)
	cmd.AddCommand(add, mod, del, list, test, status)
	return cmd
}

// printWebhookStatus prints the daemon's Manager.GlusterFS.Webhooks.
func printWebhookStatus(conn *dbus.Conn) error {
	v, err := conn.Object(exporter.BusName, exporter.ManagerPath).GetProperty(exporter.ManagerInterface + ".Webhooks")
	if err != nil {
		return fmt.Errorf("reading the webhooks' state from the daemon: %w", err)
	}
	var rows []struct {
		URL, State                                    string
		Cursor, LastSeq, Lag, Delivered, Failed, Lost uint64
		LastError                                     string
		LastErrorUsec                                 int64
	}
	if err := dbus.Store([]any{v.Value()}, &rows); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "URL\tSTATE\tCURSOR\tLAG\tDELIVERED\tFAILED\tLOST\tLAST ERROR")
	for _, r := range rows {
		last := r.LastError
		if r.LastErrorUsec != 0 {
			last = time.UnixMicro(r.LastErrorUsec).Format(time.RFC3339) + " " + last
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", r.URL, r.State, r.Cursor, r.Lag, r.Delivered, r.Failed, r.Lost, last)
	}
	return tw.Flush()
}

// sources shows a sources filter; without one a webhook gets the native
// events only, as from glustereventsd.
func sources(s []string) string {
	if len(s) == 0 {
		return webhook.SourceNative
	}
	return strings.Join(s, ",")
}

func orAll(s []string) string {
	if len(s) == 0 {
		return "all"
	}
	return strings.Join(s, ",")
}
