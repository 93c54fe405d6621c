package testenv

import (
	"syscall"
	"time"
)

// CPUTime is the user and system CPU time this process has used: in a
// benchmark, the NATS server, the services and the clients it runs
// together. It is 0 if the kernel does not say.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
