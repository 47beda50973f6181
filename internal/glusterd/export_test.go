package glusterd

// WalkVolumes reads every volume the old way, one after the other, for the
// tests that compare it with the pipelined read.
var WalkVolumes = (*Client).walk
