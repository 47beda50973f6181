// Package glusterd asks glusterd for the cluster's configuration over its
// own CLI socket, the way the gluster command does, without starting a
// gluster process per question. It knows nothing about D-Bus.
//
// The protocol is ONC RPC (RFC 5531) with record marking on a unix socket:
// program 1238463 version 2, AUTH_UNIX credentials, and for most procedures
// the XDR pair gf_cli_req (a dict) / gf_cli_rsp (op_ret, op_errno,
// op_errstr, a dict). A dict on the wire is a big-endian count, then per
// pair the key's and the value's lengths, the key, a NUL and the value;
// glusterd writes every value, numbers included, as a NUL-terminated
// string. The procedures and keys used here are those of GlusterFS 10.3's
// CLI (`volume info`, `volume list`, `peer status`, `volume get all cluster.op-version`,
// `system:: uuid get`, `system:: getwd`, `get-state glusterd detail`), none
// of which takes a volume or cluster lock.
//
// Answers become the same gluster.Volume and gluster.Peer values that the
// gluster package parses out of the CLI's XML, secrets dropped the same way;
// get-state, which glusterd writes to a file either way, is read by the
// gluster package's own code.
// Whatever this package cannot read (a malformed record, reply or dict, a
// key the CLI would need and does not find) is an error matching
// ErrNotUnderstood; a failure glusterd reports is a *gluster.CLIError as
// from the CLI. Source puts the two ways together: the socket first, the
// CLI when the socket fails or an answer is not understood.
//
// Every length and count read off the socket is checked against the bytes
// actually received before anything is allocated for it, and every call has
// a deadline.
package glusterd
