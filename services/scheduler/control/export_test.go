package control

import "github.com/berth-project/berth/internal/natsutil"

// SetAfterCommit sets a hook that runs right after every commit of the
// state bucket, before its events are published (nil: none). Set it before
// starting a service.
func SetAfterCommit(f func(writes []natsutil.KVWrite)) { afterCommit = f }
