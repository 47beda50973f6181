// Package gluster runs the gluster command line tool and parses its --xml
// output into plain Go values. It knows nothing about D-Bus.
//
// What the XML of GlusterFS 10.3 is like (see testdata/, captured from a
// real cluster by capture_test.go):
//
//   - A failed command usually exits with status 0: the failure is only in
//     <opRet>-1</opRet>, with gluster's message in <opErrstr>. Every parser
//     here turns that into a *CLIError.
//   - `volume status all detail` silently leaves out volumes that are not
//     started, and the bricks of peers whose glusterd is down; `volume status
//     VOL detail` of a volume that is not started fails with "Volume VOL is
//     not started".
//   - An offline brick has <status>0</status>, <pid>-1</pid> and
//     <port>N/A</port>, but still its file system sizes. Placeholders such as
//     N/A, - or -1 become zero (or Pid -1) and never fail a parse.
//   - <brick> in volume info mixes text (host:path) with the elements
//     <name>, <hostUuid> and <isArbiter>; an arbiter brick is an ordinary
//     brick with <isArbiter>1</isArbiter>, counted in <replicaCount> (3 for
//     "replica 3 arbiter 1") and in <arbiterCount> (1).
//   - A disconnected peer keeps <stateStr>Peer in Cluster</stateStr> with
//     <connected>0</connected>. `pool list` adds the local node as
//     "localhost", without a state.
//   - The meaning of <distCount> changed in GlusterFS 8: see
//     Volume.DistCount.
//
// Older releases (3.3 to 9; testdata/r*-*.xml, made from their CLI's
// source) differ as docs/api.md ("GlusterFS releases") lists: elements that
// appeared or vanished, "(null)" for a missing message, op-version options
// without <Opt>, several documents in one output.
//
// Unknown or missing elements and numbers that do not parse never fail a
// parse; a document that is empty, not XML or not <cliOutput>, or a
// successful one without the payload asked for, does.
package gluster
