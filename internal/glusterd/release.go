package glusterd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"syscall"
)

// maxMaps bounds what is read of a process's memory map: glusterd's is
// about 20 KiB.
const maxMaps = 1 << 20

// xlatorDir finds the release in the path of a loaded translator: GlusterFS
// installs them (and its transports) under LIBDIR/glusterfs/RELEASE/.
var xlatorDir = regexp.MustCompile(`/glusterfs/([0-9][0-9A-Za-z.+~_-]*)/(?:xlator|rpc-transport|auth)/`)

// Release returns the GlusterFS release of the glusterd answering on the
// socket, without starting a process: the CLI program has no procedure for
// it, but the translators glusterd has loaded sit in a directory named after
// its release, and its memory map (/proc/PID/maps, PID from the socket's
// peer credentials) names them. It is the running glusterd's release, even
// when the installed one has changed since. Reading another user's map
// needs root (or the same user).
func (c *Client) Release(ctx context.Context) (string, error) {
	conn, _, err := c.conn(ctx, true)
	if err != nil {
		return "", fmt.Errorf("glusterd: %w", err)
	}
	pid, err := peerPID(conn)
	conn.Close()
	if err != nil {
		return "", fmt.Errorf("glusterd's process: %w", err)
	}
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/maps")
	if err != nil {
		return "", fmt.Errorf("glusterd's release: %w", err)
	}
	defer f.Close()
	maps, err := io.ReadAll(io.LimitReader(f, maxMaps))
	if err != nil {
		return "", fmt.Errorf("glusterd's release: %w", err)
	}
	return ReleaseFromMaps(maps)
}

// ReleaseFromMaps returns the release named by the translator paths of a
// process's memory map.
func ReleaseFromMaps(maps []byte) (string, error) {
	m := xlatorDir.FindSubmatch(maps)
	if m == nil {
		return "", errors.New("glusterd's release: no GlusterFS translator in its memory map")
	}
	release := string(m[1])
	// Every translator comes from the same release; two would be a mix
	// this cannot tell apart.
	for _, other := range xlatorDir.FindAllSubmatch(maps, -1) {
		if !bytes.Equal(other[1], m[1]) {
			return "", fmt.Errorf("glusterd's release: translators of %s and %s loaded", release, other[1])
		}
	}
	return release, nil
}

// peerPID is the process at the other end of a unix socket.
func peerPID(conn net.Conn) (int, error) {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return 0, errors.New("not a unix socket")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *syscall.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if credErr != nil {
		return 0, credErr
	}
	if cred.Pid <= 0 {
		return 0, errors.New("the socket's peer is in another pid namespace")
	}
	return int(cred.Pid), nil
}
