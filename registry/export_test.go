package registry

import "github.com/berth-project/berth/internal/natsutil"

// SetAfterCommit sets a hook that runs right after every committed
// single-key write that carries events, before they are published (nil:
// none).
func SetAfterCommit(f func(w natsutil.KVWrite)) {
	if f == nil {
		afterCommit.Store(nil)
		return
	}
	afterCommit.Store(&f)
}
