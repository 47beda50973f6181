package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/spf13/cobra"

	"github.com/glusterbus/glusterbus/internal/busapi"
	"github.com/glusterbus/glusterbus/internal/daemon"
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
	batch                          int
	delivery                       string
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
	fl.IntVar(&f.batch, "batch", 0, "POST a JSON array of up to this many events (0: one event per POST, as glustereventsd)")
	fl.StringVar(&f.delivery, "delivery", "", "local (each node posts what it journaled, the default) or cluster (the pool posts each event of the NATS stream once; serve --nats or --nats-embedded)")
	if mod {
		fl.BoolVar(&f.clearToken, "clear-token", false, "remove the bearer token")
		fl.BoolVar(&f.clearSecret, "clear-secret", false, "remove the secret")
		fl.BoolVar(&f.clear, "clear-filters", false, "remove the events, volumes and sources filters")
	}
}

// webhooksFileToSync is the webhooks file's path inside glusterd's working
// directory, as gluster-eventsapi gives it to gluster system:: copy file.
const webhooksFileToSync = "/events/webhooks.json"

// errSync reports a change made to this node's file that could not be
// copied to the other nodes; gluster-eventsapi exits 8 for it.
var errSync = errors.New("copying the webhooks file to the other nodes failed")

// errTestFailed reports a webhook test without a 2xx answer;
// gluster-eventsapi webhook-test exits 3 when no node's test passed.
var errTestFailed = errors.New("webhook test failed")

// webhookCommand holds the flags every webhook subcommand shares.
type webhookCommand struct {
	workdir, command, file string

	resolved string // glusterd's working directory, once known
}

// glusterdWorkdir is glusterd's working directory, from the flags or gluster.
func (wc *webhookCommand) glusterdWorkdir(ctx context.Context) (string, error) {
	if wc.resolved != "" {
		return wc.resolved, nil
	}
	wd, err := glusterdWorkdir(ctx, wc.workdir, wc.command)
	if err == nil {
		wc.resolved = wd
	}
	return wd, err
}

// path is the webhooks file.
func (wc *webhookCommand) path(ctx context.Context) (string, error) {
	if wc.file != "" {
		return wc.file, nil
	}
	wd, err := wc.glusterdWorkdir(ctx)
	return filepath.Join(wd, filepath.FromSlash(webhooksFileToSync)), err
}

func (wc *webhookCommand) cli() (*gluster.CLI, error) {
	words, err := gluster.ParseCommand(wc.command)
	if err != nil {
		return nil, err
	}
	return &gluster.CLI{Command: words, Timeout: gluster.DefaultTimeout}, nil
}

// change runs edit on the webhooks file and then, unless local, copies
// the file to the other nodes as gluster-eventsapi does. Each node's
// daemon watches its own file: no reload is needed.
func (wc *webhookCommand) change(ctx context.Context, local bool, edit func(path string) error) error {
	p, err := wc.path(ctx)
	if err != nil {
		return err
	}
	if !local {
		// gluster copies <workdir>/events/webhooks.json, whatever file
		// was changed: make sure it is the one.
		wd, err := wc.glusterdWorkdir(ctx)
		if err != nil {
			return err
		}
		if synced := filepath.Join(wd, filepath.FromSlash(webhooksFileToSync)); !sameFile(p, synced) {
			return fmt.Errorf("%s is not %s, the file copied to the other nodes: give --local to change it on this node only", p, synced)
		}
	}
	if err := edit(p); err != nil {
		return err
	}
	if local {
		return nil
	}
	c, err := wc.cli()
	if err != nil {
		return err
	}
	if _, err := c.Run(ctx, "system::", "copy", "file", webhooksFileToSync); err != nil {
		return fmt.Errorf("%w (this node's file is changed): %v", errSync, err)
	}
	return nil
}

// sameFile reports whether a and b name the same file, also when it does
// not exist yet.
func sameFile(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	if errA == nil && errB == nil {
		return os.SameFile(fa, fb)
	}
	da, errA := os.Stat(filepath.Dir(a))
	db, errB := os.Stat(filepath.Dir(b))
	return errA == nil && errB == nil && os.SameFile(da, db) && filepath.Base(a) == filepath.Base(b)
}

// nodeUUID is this node's UUID as glustereventsd reads it: the UUID= line
// of glusterd.info in glusterd's working directory; else what glusterd
// says; else "" (null in the event).
func (wc *webhookCommand) nodeUUID(ctx context.Context) string {
	wd, err := wc.glusterdWorkdir(ctx)
	if err == nil {
		if id := readGlusterdUUID(filepath.Join(wd, "glusterd.info")); id != "" {
			return id
		}
	}
	if c, err := wc.cli(); err == nil {
		if id, err := c.LocalUUID(ctx); err == nil && id != "" {
			return id
		}
	}
	slog.Warn("this node's UUID is unknown (no glusterd.info, no answer from glusterd); the sample event's nodeid is null")
	return ""
}

// readGlusterdUUID returns the value of the UUID= line of a glusterd.info
// file, or "".
func readGlusterdUUID(file string) string {
	data, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "UUID="); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func newWebhook() *cobra.Command {
	var (
		wc      webhookCommand
		address string
	)
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "Manage webhooks as gluster-eventsapi does (same file), and show their delivery",
		Long: `The webhooks live in gluster-eventsapi's file, <glusterd workdir>/events/webhooks.json.
As gluster-eventsapi does, add, mod and del then copy the file to the other nodes
(gluster system:: copy file /events/webhooks.json), unless --local is given.
Each node's running daemon picks up every change without a restart.`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&wc.file, "webhooks-file", "", "the webhooks file (default <glusterd workdir>/events/webhooks.json)")
	pf.StringVar(&wc.workdir, "glusterd-workdir", "", "glusterd's working directory (default: ask gluster)")
	pf.StringVar(&wc.command, "gluster", "gluster", "the gluster CLI command, as a prefix")

	var (
		addFlags webhookFlags
		addLocal bool
	)
	add := &cobra.Command{
		Use:   "add URL",
		Short: "Add a webhook",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f := addFlags
			return wc.change(cmd.Context(), addLocal, func(p string) error {
				return webhook.Add(p, webhook.Webhook{URL: args[0], Token: f.token, Secret: f.secret, Events: f.events,
					Volumes: f.volumes, Sources: f.sources, NoVerify: f.noVerify, CAFile: f.caFile, Timeout: f.timeout,
					Batch: f.batch, Delivery: f.delivery})
			})
		},
	}
	addFlags.add(add, false)
	addLocalFlag(add, &addLocal)

	var (
		modFlags webhookFlags
		modLocal bool
	)
	mod := &cobra.Command{
		Use:   "mod URL",
		Short: "Change a webhook",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
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
			if fl.Changed("batch") {
				c.Batch = &f.batch
			}
			if fl.Changed("delivery") {
				c.Delivery = &f.delivery
			}
			c.ClearToken, c.ClearSecret = f.clearToken, f.clearSecret
			return wc.change(cmd.Context(), modLocal, func(p string) error { return webhook.Modify(p, args[0], c) })
		},
	}
	modFlags.add(mod, true)
	addLocalFlag(mod, &modLocal)

	var delLocal bool
	del := &cobra.Command{
		Use:   "del URL",
		Short: "Delete a webhook",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return wc.change(cmd.Context(), delLocal, func(p string) error { return webhook.Delete(p, args[0]) })
		},
	}
	addLocalFlag(del, &delLocal)

	list := &cobra.Command{
		Use:   "list",
		Short: "List the webhooks and their settings (never their tokens, secrets or URL passwords)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := wc.path(cmd.Context())
			if err != nil {
				return err
			}
			c, err := webhook.List(p)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "URL\tAUTH\tEVENTS\tVOLUMES\tSOURCES\tVERIFY")
			for _, w := range c.Webhooks {
				auth := "none"
				switch {
				case w.Secret != "":
					auth = "jwt"
				case w.Token != "":
					auth = "token"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%v\n", webhook.RedactURL(w.URL), auth, orAll(w.Events), orAll(w.Volumes), sources(w.Sources), !w.NoVerify)
			}
			for _, inv := range c.Invalid {
				fmt.Fprintf(tw, "%s\tinvalid: %v\n", webhook.RedactURL(inv.URL), inv.Err)
			}
			return tw.Flush()
		},
	}

	var testFlags webhookFlags
	test := &cobra.Command{
		Use:   "test URL",
		Short: "Send a sample event to a webhook (configured, or given by its flags) and show the answer",
		Long: `Send a sample event to a webhook and show the answer. A configured webhook is
tested with its settings; flags given on the command line override them for
this test (-t or -s replace both the token and the secret).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			w := testedWebhook(cmd.Context(), &wc, args[0], cmd, &testFlags)
			code, err := webhook.Test(cmd.Context(), w, wc.nodeUUID(cmd.Context()), w.Timeout)
			if errors.Is(err, webhook.ErrInvalid) {
				return err
			}
			if err != nil {
				return fmt.Errorf("%w: %v", errTestFailed, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: HTTP %d\n", webhook.RedactURL(args[0]), code)
			if code < 200 || code > 299 {
				return fmt.Errorf("%w: the webhook answered %d", errTestFailed, code)
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
			return onBus(address, func(conn *dbus.Conn) error { return printWebhookStatus(cmd.OutOrStdout(), conn) })
		},
	}
	addBusFlag(status, &address)
	cmd.AddCommand(add, mod, del, list, test, status)
	return cmd
}

func addLocalFlag(cmd *cobra.Command, local *bool) {
	cmd.Flags().BoolVar(local, "local", false, "change this node's file only; do not copy it to the other nodes")
}

// testedWebhook is the webhook "webhook test" sends to: the configured
// one, if any, with the flags given on the command line overriding its
// settings.
func testedWebhook(ctx context.Context, wc *webhookCommand, u string, cmd *cobra.Command, f *webhookFlags) webhook.Webhook {
	w := webhook.Webhook{URL: u}
	if p, err := wc.path(ctx); err == nil {
		if c, err := webhook.List(p); err == nil {
			if configured, ok := c.Find(u); ok {
				w = configured
			}
		}
	}
	fl := cmd.Flags()
	if fl.Changed("bearer_token") || fl.Changed("secret") {
		w.Token, w.Secret = f.token, f.secret
	}
	if fl.Changed("no-verify") {
		w.NoVerify = f.noVerify
	}
	if fl.Changed("ca-file") {
		w.CAFile = f.caFile
	}
	if fl.Changed("timeout") {
		w.Timeout = f.timeout
	}
	if fl.Changed("batch") {
		w.Batch = f.batch
	}
	if fl.Changed("delivery") {
		w.Delivery = f.delivery
	}
	return w
}

// printWebhookStatus prints the daemon's Manager.GlusterFS.Webhooks.
func printWebhookStatus(out io.Writer, conn *dbus.Conn) error {
	v, err := conn.Object(busapi.BusName, busapi.ManagerPath).GetProperty(busapi.ManagerInterface + ".Webhooks")
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
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
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
