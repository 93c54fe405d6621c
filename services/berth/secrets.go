package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/berth-project/berth/internal/natsauth"
	"github.com/berth-project/berth/internal/svc"
)

// secretsConfig is the configuration of `berth secrets`.
type secretsConfig struct {
	Dir     string
	NATSURL string
	Owner   string
	Rotate  bool
}

// runSecrets generates (once) the NATS secrets and the join token of a
// cluster into a folder, and writes from them the nats-server
// authorization include (nats-auth.conf) and one NATS context per static
// identity (nats-<identity>.json), all mode 0600. Compose runs it before
// the NATS nodes start; nothing secret is in an image.
func runSecrets(_ context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var c secretsConfig
	fs := flag.NewFlagSet("berth secrets", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: berth secrets --dir DIR [flags]\n\nGenerates a cluster's NATS identities and join token (once), and writes the\nnats-server authorization include and one NATS context file per identity.")
		fs.PrintDefaults()
	}
	svc.String(fs, getenv, &c.Dir, "dir", "BERTH_SECRETS_DIR", "", "folder of the secrets (created 0700)")
	svc.String(fs, getenv, &c.NATSURL, "nats-url", "BERTH_NATS_URL", "nats://127.0.0.1:4222", "NATS URL(s) written into the context files")
	svc.String(fs, getenv, &c.Owner, "owner", "BERTH_SECRETS_OWNER", "", "uid:gid to give the files to (services that run as non-root)")
	fs.BoolVar(&c.Rotate, "rotate-join-token", false, "replace the join token (agents that joined keep their identities)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.Dir == "" {
		return fmt.Errorf("--dir is required")
	}
	sec, err := natsauth.LoadOrCreate(c.Dir)
	if err != nil {
		return err
	}
	tokenPath := filepath.Join(c.Dir, natsauth.JoinTokenFile)
	if c.Rotate {
		_, err = natsauth.RotateJoinToken(tokenPath)
	} else {
		_, err = natsauth.LoadOrCreateJoinToken(tokenPath)
	}
	if err != nil {
		return err
	}
	conf, err := sec.ServerConfig()
	if err != nil {
		return err
	}
	files := []string{natsauth.SecretsFile, natsauth.JoinTokenFile, "nats-auth.conf"}
	if err := natsauth.WriteSecretFile(filepath.Join(c.Dir, "nats-auth.conf"), []byte(conf)); err != nil {
		return err
	}
	for _, id := range natsauth.StaticUsers() {
		name := "nats-" + id + ".json"
		if err := natsauth.WriteContext(filepath.Join(c.Dir, name), sec.ContextFor(id, c.NATSURL, "Berth identity "+id)); err != nil {
			return err
		}
		files = append(files, name)
	}
	if c.Owner != "" {
		if err := chownAll(c.Dir, files, c.Owner); err != nil {
			return err
		}
	}
	_, err = fmt.Fprintf(stdout, "NATS identities and join token in %s (%d files, mode 0600)\n", c.Dir, len(files))
	return err
}

// chownAll gives dir and files in it to owner ("uid:gid").
func chownAll(dir string, files []string, owner string) error {
	us, gs, ok := strings.Cut(owner, ":")
	uid, err1 := strconv.Atoi(us)
	gid, err2 := strconv.Atoi(gs)
	if !ok || err1 != nil || err2 != nil {
		return fmt.Errorf("--owner %q: want uid:gid", owner)
	}
	for _, f := range append([]string{""}, files...) {
		if err := os.Chown(filepath.Join(dir, f), uid, gid); err != nil {
			return err
		}
	}
	return nil
}
