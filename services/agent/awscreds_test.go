package main

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

// --access-key-file reads the key id from the credentials file the gateway's
// --bootstrap writes; an explicit --access-key-id wins; a file without a key
// is an error.
func TestFlags_AccessKeyFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "credentials")
	os.WriteFile(good, []byte("[berth]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = s\n"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("[berth]\n"), 0o600)
	for _, tc := range []struct {
		args    []string
		want    string
		wantErr bool
	}{
		{[]string{"--access-key-file", good}, "AKIAEXAMPLE", false},
		{[]string{"--access-key-file", good, "--access-key-id", "AKIAOTHER"}, "AKIAOTHER", false},
		{[]string{"--access-key-file", empty}, "", true},
		{[]string{"--access-key-file", filepath.Join(dir, "missing")}, "", true},
	} {
		fs := flag.NewFlagSet("agent", flag.ContinueOnError)
		cfg, finish := registerFlags(fs, envOf(nil))
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		err := finish()
		if (err != nil) != tc.wantErr || cfg.AccessKeyID != tc.want {
			t.Errorf("%v: key %q err %v", tc.args, cfg.AccessKeyID, err)
		}
	}
}
