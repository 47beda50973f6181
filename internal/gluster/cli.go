package gluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultTimeout bounds one gluster command when CLI.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// CLI runs gluster commands. The zero value runs "gluster" from PATH. It is
// safe for concurrent use.
type CLI struct {
	// Command is the command prefix, e.g. ["gluster"] or
	// ["gluster", "--glusterd-sock=/run/gd.sock"]; "--mode=script" and
	// "--xml" are added as needed.
	Command []string
	// Timeout bounds every call; DefaultTimeout when zero. When it expires
	// (or the context ends) the command's whole process group is killed.
	Timeout time.Duration

	infoAll   memo[Volume]
	statusAll memo[BrickStatus]
	// fileFrom is the size from which the output of a whole-cluster read
	// is parsed from the file the command wrote (see readWhole);
	// largeOutput when 0.
	fileFrom int64

	wdMu sync.Mutex
	wd   string // glusterd's working directory, once read
}

// VolumeInfo returns the volumes (all of them when volume is "" or "all").
// The result of a read of all volumes may be shared with other calls that
// got the same output: callers must not modify it.
func (c *CLI) VolumeInfo(ctx context.Context, volume string) ([]Volume, error) {
	if volumeArg(volume) == "all" {
		return readWhole(ctx, c, &c.infoAll, readVolumeInfo, "volume", "info", "all")
	}
	out, err := c.Run(ctx, "volume", "info", volume)
	if err != nil {
		return nil, err
	}
	return ParseVolumeInfo(out)
}

// VolumeStatusDetail returns the state of the bricks of a started volume, or
// of all started volumes when volume is "" or "all". A volume that is not
// started has no brick status: it is not an error, the result is empty.
// Bricks on disconnected peers are missing from the result. As with
// VolumeInfo, the result of a read of all volumes may be shared.
func (c *CLI) VolumeStatusDetail(ctx context.Context, volume string) ([]BrickStatus, error) {
	if volumeArg(volume) == "all" {
		return readWhole(ctx, c, &c.statusAll, readVolumeStatusDetail, "volume", "status", "all", "detail")
	}
	out, err := c.Run(ctx, "volume", "status", volume, "detail")
	if err != nil {
		var ce *CLIError
		if errors.As(err, &ce) && ce.OpRet != 0 && strings.Contains(ce.Message, "is not started") {
			return nil, nil
		}
		return nil, err
	}
	return ParseVolumeStatusDetail(out)
}

// Peers returns the other members of the trusted storage pool (not the
// local node).
func (c *CLI) Peers(ctx context.Context) ([]Peer, error) {
	out, err := c.Run(ctx, "peer", "status")
	if err != nil {
		return nil, err
	}
	return ParsePeerStatus(out)
}

// LocalUUID returns the UUID of the glusterd the CLI talks to.
func (c *CLI) LocalUUID(ctx context.Context) (string, error) {
	out, err := c.Run(ctx, "pool", "list")
	if err != nil {
		return "", err
	}
	self, _, err := ParsePoolList(out)
	if err != nil {
		return "", err
	}
	return self.UUID, nil
}

// OpVersion returns the cluster's operating version, e.g. 100000.
func (c *CLI) OpVersion(ctx context.Context) (uint32, error) {
	out, err := c.Run(ctx, "volume", "get", "all", "cluster.op-version")
	if err != nil {
		return 0, err
	}
	return ParseOpVersion(out)
}

// Version returns the release of the gluster CLI, e.g. "10.3".
func (c *CLI) Version(ctx context.Context) (string, error) {
	out, err := c.exec(ctx, []string{"--version"}, false)
	if err != nil {
		return "", err
	}
	return ParseVersion(string(out))
}

// Workdir returns glusterd's working directory, e.g. /var/lib/glusterd.
func (c *CLI) Workdir(ctx context.Context) (string, error) {
	out, err := c.exec(ctx, []string{"system::", "getwd"}, true)
	if err != nil {
		return "", err
	}
	dir := strings.TrimSpace(string(out))
	if !strings.HasPrefix(dir, "/") || strings.ContainsAny(dir, "\n<") {
		return "", fmt.Errorf("gluster system:: getwd: unexpected output %q", dir)
	}
	return dir, nil
}

// Run runs a gluster command with --xml and returns its XML output when
// the command succeeded: the process exited with status 0 and the output
// reports opRet 0. Otherwise the error is a *CLIError (gluster's own message
// included), or wraps context.DeadlineExceeded or context.Canceled when the
// command was killed.
func (c *CLI) Run(ctx context.Context, args ...string) ([]byte, error) {
	if !slices.Contains(args, "--xml") {
		args = append(slices.Clip(args), "--xml")
	}
	return c.exec(ctx, args, true)
}

// exec runs the command prefix with args (and --mode=script when script),
// kills its process group when the context or the timeout ends, and checks
// the result. Outputs that look like XML are checked for opRet.
func (c *CLI) exec(ctx context.Context, args []string, script bool) ([]byte, error) {
	argv, op, timeout := c.command(args, script)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return run(ctx, argv, op)
}

// command returns the command line of args as exec describes, the name of
// the command in errors and its timeout.
func (c *CLI) command(args []string, script bool) (argv []string, op string, timeout time.Duration) {
	argv = slices.Clone(c.Command)
	if len(argv) == 0 {
		argv = []string{"gluster"}
	}
	argv = append(argv, args...)
	if script && !slices.Contains(argv, "--mode=script") {
		argv = append(argv, "--mode=script")
	}
	op = strings.Join(args, " ")
	op = strings.TrimSuffix(op, " --xml")

	timeout = c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return argv, op, timeout
}

// run runs argv until ctx ends, as exec describes; op names the command in
// errors.
func run(ctx context.Context, argv []string, op string) ([]byte, error) {
	cmd := newCommand(ctx, argv)
	var stdout, stderr bytes.Buffer
	if n, ok := outputSizes.Load(op); ok {
		stdout.Grow(n.(int) + n.(int)/16)
	}
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	exitCode, err := wait(ctx, cmd, op)
	if err != nil {
		return nil, err
	}
	out := stdout.Bytes()
	if len(out) >= largeOutput {
		outputSizes.Store(op, len(out))
	} else {
		outputSizes.Delete(op)
	}
	return checkResult(op, out, &stderr, exitCode)
}

// newCommand returns the command of argv, to be killed with anything it
// starts when ctx ends.
func newCommand(ctx context.Context, argv []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	// The command and anything it starts share a new process group, so
	// that all of it can be killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = time.Second
	return cmd
}

// wait runs cmd to its end and returns its exit status, or the error of a
// command that was killed or did not run.
func wait(ctx context.Context, cmd *exec.Cmd, op string) (exitCode int, err error) {
	runErr := cmd.Run()
	if ctxErr := ctx.Err(); runErr != nil && ctxErr != nil {
		// Whatever the command did, it was killed.
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			return 0, fmt.Errorf("gluster %s: killed after timeout: %w", op, ctxErr)
		}
		return 0, fmt.Errorf("gluster %s: killed: %w", op, ctxErr)
	}
	if runErr != nil {
		var ee *exec.ExitError
		if !errors.As(runErr, &ee) {
			return 0, fmt.Errorf("gluster %s: %w", op, runErr)
		}
		return ee.ExitCode(), nil
	}
	return 0, nil
}

// checkResult returns out, the output of the command op that exited with
// exitCode, if the command succeeded, and otherwise its error, as Run
// describes.
func checkResult(op string, out []byte, stderr *bytes.Buffer, exitCode int) ([]byte, error) {
	looksXML := bytes.Contains(out, xmlRoot)
	if looksXML {
		if err := CheckOutput(out); err != nil {
			var ce *CLIError
			if errors.As(err, &ce) {
				return nil, reported(ce, op, exitCode, stderr)
			}
			if exitCode == 0 {
				return nil, fmt.Errorf("gluster %s: %w", op, err)
			}
		}
	}
	if exitCode != 0 {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" && !looksXML {
			msg = strings.TrimSpace(string(out))
		}
		if msg == "" {
			msg = "command failed"
		}
		return nil, &CLIError{Op: op, ExitCode: exitCode, Message: msg}
	}
	return out, nil
}

// reported completes the failure an output reported with what is known of
// the command: its name, its exit status, and what it wrote on stderr when
// the output has no message.
func reported(ce *CLIError, op string, exitCode int, stderr *bytes.Buffer) *CLIError {
	ce.Op, ce.ExitCode = op, exitCode
	if msg := strings.TrimSpace(stderr.String()); ce.Message == noMessage && msg != "" {
		ce.Message = msg
	}
	return ce
}

// outputSizes holds the size of the last output of each command (by op)
// that printed at least largeOutput bytes, so that the next is read into a
// buffer of about that size at once: at thousands of volumes `volume info
// all` prints tens of megabytes, and the copies of a buffer grown by
// doubling were most of a reconcile's memory. Only whole-cluster reads print
// that much, so it holds a few commands.
var outputSizes sync.Map

const largeOutput = 1 << 20

// volumeArg is the volume argument of info and status commands.
func volumeArg(volume string) string {
	if volume == "" {
		return "all"
	}
	return volume
}
