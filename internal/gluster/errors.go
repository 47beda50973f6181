package gluster

import (
	"errors"
	"fmt"
	"regexp"
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
	Message  string // gluster's opErrstr, or else <output> or another message in the document, or else stderr
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

// glusterd's own error numbers (glusterd-errno.h, since 3.7) for the kinds
// this package names; the message is checked too, since older releases and
// many code paths send a plain errno or none.
const (
	errnoLocked   = 30802 // EG_ANOTRANS: another transaction is in progress
	errnoNoVolume = 30806 // EG_NOVOL: volume does not exist
)

// Is reports whether the error is ErrLocked, ErrNoVolume or ErrNoGlusterd.
func (e *CLIError) Is(target error) bool {
	msg := strings.ToLower(e.Message)
	switch target {
	case ErrLocked:
		return e.OpErrno == errnoLocked || isLockMessage(e.Message)
	case ErrNoVolume:
		return e.OpErrno == errnoNoVolume || isNoVolumeMessage(e.Message)
	case ErrNoGlusterd:
		return strings.Contains(msg, "connection failed") || strings.Contains(msg, "is gluster daemon operational")
	}
	return false
}

// noVolumeMessage matches what glusterd and the CLI say of a volume that
// does not exist, in every release: "Volume NAME does not exist", "Volume
// does not exist", "Volume (NAME) does not exist", "volume: NAME does not
// exist", "Volume NAME doesn't exist.", "Volume NAME not found", ...
var noVolumeMessage = regexp.MustCompile(`^volume:?\s+(\(?\S+\)?\s+)?(does not exists?|doesn't exist|not found|not present)\b`)

// isNoVolumeMessage reports whether msg says the volume does not exist,
// also behind a prefix of the CLI such as "volume get option: failed: ".
func isNoVolumeMessage(msg string) bool {
	msg = strings.ToLower(strings.TrimSpace(msg))
	if noVolumeMessage.MatchString(msg) {
		return true
	}
	if i := strings.LastIndex(msg, "failed: "); i >= 0 {
		return noVolumeMessage.MatchString(strings.TrimSpace(msg[i+len("failed: "):]))
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
