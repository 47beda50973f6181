package gluster

import (
	"errors"
	"fmt"
	"strings"
)

// ErrLocked matches (with errors.Is) a *CLIError saying that glusterd's
// cluster-wide lock is held by another transaction. Such a command can simply
// be retried later.
var ErrLocked = errors.New("gluster: another transaction is in progress")

// ErrNoVolume matches a *CLIError saying the named volume does not exist.
var ErrNoVolume = errors.New("gluster: no such volume")

// ErrNoGlusterd matches a *CLIError saying the CLI could not reach glusterd.
var ErrNoGlusterd = errors.New("gluster: glusterd is not reachable")

// CLIError is a failed gluster command: either the process failed, or its
// XML output reported failure (opRet != 0), which happens with exit status 0
// too.
type CLIError struct {
	Op       string // the command, e.g. "volume info foo"; empty when only output was parsed
	ExitCode int    // the process's exit status; -1 when unknown
	OpRet    int    // gluster's opRet; 0 when the output had none
	OpErrno  int    // gluster's opErrno
	Message  string // gluster's opErrstr, or else its output on stderr
}

func (e *CLIError) Error() string {
	var b strings.Builder
	b.WriteString("gluster")
	if e.Op != "" {
		b.WriteString(" " + e.Op)
	}
	msg := e.Message
	if msg == "" {
		msg = "command failed"
	}
	b.WriteString(": " + msg)
	var details []string
	if e.OpRet != 0 || e.OpErrno != 0 {
		details = append(details, fmt.Sprintf("opRet %d, opErrno %d", e.OpRet, e.OpErrno))
	}
	if e.ExitCode > 0 {
		details = append(details, fmt.Sprintf("exit status %d", e.ExitCode))
	}
	if len(details) > 0 {
		b.WriteString(" (" + strings.Join(details, ", ") + ")")
	}
	return b.String()
}

// Is reports whether the error is ErrLocked.
func (e *CLIError) Is(target error) bool {
	msg := strings.ToLower(e.Message)
	switch target {
	case ErrLocked:
		return isLockMessage(e.Message)
	case ErrNoVolume:
		// 10.3 says "Volume does not exist" or "Volume NAME does not exist".
		return strings.HasPrefix(msg, "volume ") && strings.Contains(msg, "does not exist")
	case ErrNoGlusterd:
		return strings.Contains(msg, "connection failed") || strings.Contains(msg, "is gluster daemon operational")
	}
	return false
}

// lockMessages are the phrases glusterd uses when it could not take the
// cluster-wide or a volume's lock.
var lockMessages = []string{
	"another transaction is in progress",
	"another transaction could be in progress",
	"locking failed",
	"unable to acquire lock",
}

func isLockMessage(msg string) bool {
	msg = strings.ToLower(msg)
	for _, m := range lockMessages {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}
