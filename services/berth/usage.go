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

// wantsHelp reports whether args ask for the usage (-h, -help, --help).
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--h", "--help":
			return true
		}
	}
	return false
}

// printUsage writes `berth --help`: one line saying what Berth is, the
// subcommands, then the flags of `berth` itself.
func printUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, `Berth is a self-hosted, AWS-compatible container platform (ECS and ECR APIs) that runs real containers with Docker.

Usage:
  berth [flags]          run Berth on this machine: the AWS APIs, the registry,
                         an embedded NATS server and an agent for the local Docker
  berth events [flags]   follow Berth's event stream (berth events --help)
  berth secrets --dir D  generate a cluster's NATS identities and join token (berth secrets --help)
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
