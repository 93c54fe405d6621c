// Package logship ships the output of containers whose logConfiguration is
// awslogs to Berth's logs service, exactly once.
//
// The engine runs such containers with Docker's json-file driver (so
// `docker logs` keeps working and dockerd needs no AWS credentials) and
// labels them docker.LabelAWSLogs. The Shipper finds them (at start, on
// Docker start events and on a periodic resync), follows each one's output
// through the Docker logs API with timestamps, and sends batches to
// berth.internal.logs.Ship (events.LogShipRequest).
//
// Every line gets a cursor: its Docker timestamp in nanoseconds plus its
// index among lines with the same timestamp. After each acknowledged batch
// the cursor is saved in DataDir/logship/<container id>.json; a restarted
// agent resumes the Docker log from there. The logs service drops lines at
// or before the last cursor it stored for the stream, so a batch resent
// after a crash between the store and the checkpoint is not stored twice.
// When a container has exited and its output is shipped, the checkpoint is
// marked done.
package logship
