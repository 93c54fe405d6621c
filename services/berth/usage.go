package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version is Berth's version; release builds set it with
// -ldflags "-X main.version=v1.2.3".
var version = "dev"

// helpRequest is parseConfig's answer to -h or --help: the flag set whose
// flags the usage lists.
type helpRequest struct{ fs *flag.FlagSet }

func (h *helpRequest) Error() string { return flag.ErrHelp.Error() }
func (h *helpRequest) Unwrap() error { return flag.ErrHelp }

// printUsage writes `berth --help`: one line saying what Berth is, the
// subcommands, then the flags of `berth` itself.
func printUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, `Berth is a self-hosted, AWS-compatible container platform (ECS and ECR APIs) that runs real containers with Docker.

Usage:
  berth [flags]          run Berth on this machine: the AWS APIs, the registry,
                         an embedded NATS server and an agent for the local Docker
  berth events [flags]   follow Berth's event stream (berth events --help)
  berth version          print the version
  berth help             print this help

Flags of berth:
`)
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// versionString is what `berth version` prints: the version, and the commit
// and Go version of the build.
func versionString() string {
	v := "berth " + version
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, dirty string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "+dirty"
				}
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" {
			v += " (commit " + rev + dirty + ")"
		}
	}
	return v + " " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
}
