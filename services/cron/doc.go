// Command cron runs the cron service (package cron): EventBridge Scheduler
// and EventBridge rules, firing each occurrence once. Any number of
// replicas may run; they share the work through JetStream.
//
//	cron --nats-url nats://127.0.0.1:4222 [--minute 1m] [--workers 64]
//
// Time zone data is compiled in (time/tzdata), so the binary works on an
// image without /usr/share/zoneinfo.
package main
